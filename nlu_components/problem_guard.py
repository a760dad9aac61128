"""ProblemGuard: Rasa's side of nlu_components.problems (after the InformGuard, before the FallbackClassifier).
A message the classifier takes for `report_issue` but that names no problem is ranked as `share_idea`."""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message

from nlu_components.problems import REPORT, as_idea, names_a_problem

INTENT_RANKING = "intent_ranking"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class ProblemGuard(GraphComponent, IntentClassifier):
    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> ProblemGuard:
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            intent = message.get(INTENT) or {}
            if intent.get("name") != REPORT:
                continue
            tokens = [token.text for token in message.get(TOKENS_NAMES[TEXT]) or []]
            if names_a_problem(message.get(TEXT) or "", tokens):
                continue
            ranking = as_idea(message.get(INTENT_RANKING) or [intent])
            message.set(INTENT, {"name": ranking[0]["name"], "confidence": ranking[0]["confidence"]}, True)
            message.set(INTENT_RANKING, ranking, True)
        return messages
