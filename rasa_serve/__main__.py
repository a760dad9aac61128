"""`python -m rasa_serve run ...`: Rasa's own command line, after rasa_serve.fixes.install()."""

from __future__ import annotations

from rasa_serve.fixes import install

if __name__ == "__main__":
    install()
    from rasa.__main__ import main

    main()
