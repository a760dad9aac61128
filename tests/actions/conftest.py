"""Action tests run the real actions against the real database of the `services` fixture."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from actions.common import use_services
from wijkbot.services import Services


@pytest.fixture
def actions_services(services: Services) -> Iterator[Services]:
    """The actions use the test's services (database, registry, rules) instead of opening their own."""
    use_services(services)
    yield services
    use_services(None)
