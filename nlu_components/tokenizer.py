"""DutchTokenizer: Rasa's WhitespaceTokenizer plus, for every word of the message text, extra tokens for its
compound parts, diminutive stem and domain classes, and its simplemma lemma as the token's lemma.

`lantaarnpaaltje kapot` becomes the tokens lantaarnpaaltje (lemma lantaarnpaal), lantaarn, paal, __openbare_ruimte,
kapot, __gebrek. Extra tokens carry the span of the word they come from, so entity spans (found on the text by
RegexEntityExtractor) are not affected; only the message text is analysed (not intents or action names).
"""

from __future__ import annotations

from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from nlu_components.dutch import Analyser, simplemma_analyser

_ANALYSER: Analyser | None = None


def analyser() -> Analyser:
    global _ANALYSER
    if _ANALYSER is None:
        _ANALYSER = simplemma_analyser()
    return _ANALYSER


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class DutchTokenizer(WhitespaceTokenizer):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **WhitespaceTokenizer.get_default_config(),
            # add compound parts, diminutive stems and `__class` markers as extra tokens
            "extra_tokens": True,
            # give each token its simplemma lemma (CountVectorsFeaturizer uses lemmas by default)
            "lemmas": True,
        }

    @staticmethod
    def required_packages() -> list[str]:
        return ["simplemma"]

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        tokens = super().tokenize(message, attribute)
        if attribute != TEXT:
            return tokens
        analyse = analyser().analyse
        result: list[Token] = []
        for token in tokens:
            lemma, extra = analyse(token.text)
            if self._config["lemmas"]:
                token.lemma = lemma
            result.append(token)
            if self._config["extra_tokens"]:
                result.extend(Token(form, token.start, token.end, lemma=form) for form in extra)
        return result
