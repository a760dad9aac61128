"""The rasa_sdk action server: `python -m rasa_sdk --actions actions` (see wijkbot.runner).

Small modules, thin actions: forms (idea_form, report_form, question_form with area.py for "where"),
filing (submit.py), status, contact, outreach, what was realised (realised.py), fallback and the session start
(session.py). Domain logic
lives in wijkbot/ (locate, intake, contacts, items, residents); what the actions say is in texts.yml.
"""
