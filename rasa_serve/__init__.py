"""How the project runs Rasa: `python -m rasa_serve ...` is `rasa ...` with the fixes of rasa_serve.fixes applied.

Imported only by the Rasa environment (.venv-rasa), which finds this checkout through the `.pth` file that
`make setup` writes. See docs/adr/0009-rasa-action-response-validation.md.
"""
