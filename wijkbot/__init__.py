"""wijkbot: the neighbourhood front door for residents of Oss and Oosterhout."""
