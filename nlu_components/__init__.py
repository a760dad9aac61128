"""wijkbot's own Rasa NLU components (loaded by config.yml as `nlu_components.tokenizer.DutchTokenizer`).

`dutch` and `vocabulary` are plain Python (tested from the app environment); `tokenizer` needs Rasa and is
imported only by Rasa, from the repository root.
"""
