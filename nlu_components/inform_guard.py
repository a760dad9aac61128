"""InformGuard: Rasa's side of nlu_components.place_answers (after DIET and the entity extractors, before the
FallbackClassifier). Trained on the `inform` examples: it keeps the words they use outside their entities."""

from __future__ import annotations

import json
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import ENTITIES, ENTITY_ATTRIBUTE_END, ENTITY_ATTRIBUTE_START, INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu_components.place_answers import (
    INFORM,
    as_inform,
    is_bare_place,
    is_place_answer,
    outside_spans,
    without_inform,
    words,
)

INTENT_RANKING = "intent_ranking"
FILE = "inform_vocabulary.json"


def _spans(message: Message) -> list[tuple[int, int]]:
    return [
        (int(entity[ENTITY_ATTRIBUTE_START]), int(entity[ENTITY_ATTRIBUTE_END]))
        for entity in message.get(ENTITIES) or []
        if ENTITY_ATTRIBUTE_START in entity and ENTITY_ATTRIBUTE_END in entity
    ]


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class InformGuard(GraphComponent, IntentClassifier):
    def __init__(self, model_storage: ModelStorage, resource: Resource, vocabulary: frozenset[str]) -> None:
        self._model_storage = model_storage
        self._resource = resource
        self.vocabulary = vocabulary

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> InformGuard:
        return cls(model_storage, resource, frozenset())

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> InformGuard:
        try:
            with model_storage.read_from(resource) as directory:
                vocabulary = frozenset(json.loads((directory / FILE).read_text(encoding="utf-8")))
        except (ValueError, FileNotFoundError):
            vocabulary = frozenset()
        return cls(model_storage, resource, vocabulary)

    def train(self, training_data: TrainingData) -> Resource:
        vocabulary: set[str] = set()
        for example in training_data.intent_examples:
            if example.get(INTENT) == INFORM:
                vocabulary.update(words(outside_spans(example.get(TEXT) or "", _spans(example))))
        self.vocabulary = frozenset(vocabulary)
        with self._model_storage.write_to(self._resource) as directory:
            (directory / FILE).write_text(json.dumps(sorted(vocabulary), ensure_ascii=False), encoding="utf-8")
        return self._resource

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            intent = message.get(INTENT) or {}
            if intent.get("name") != INFORM and is_bare_place(message.get(TEXT) or "", _spans(message)):
                self._rank(message, as_inform(message.get(INTENT_RANKING) or []))
                continue
            if intent.get("name") != INFORM or not self.vocabulary:
                continue
            if is_place_answer(message.get(TEXT) or "", _spans(message), self.vocabulary):
                continue
            self._rank(message, without_inform(message.get(INTENT_RANKING) or []))
        return messages

    @staticmethod
    def _rank(message: Message, ranking: list[dict[str, Any]]) -> None:
        if ranking:
            message.set(INTENT, {"name": ranking[0]["name"], "confidence": ranking[0]["confidence"]}, True)
            message.set(INTENT_RANKING, ranking, True)
