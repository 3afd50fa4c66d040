from __future__ import annotations

from collections.abc import Iterator

import pytest

from streams.settings import Settings
from tests.conftest import clean_redis_namespace


@pytest.fixture
def pipeline_settings(stack_settings: Settings, redis_url: str) -> Iterator[Settings]:
    """Topics of this test's own, Redis state under the same prefix, removed afterwards."""
    settings = stack_settings.model_copy(update={"redis_url": redis_url})
    yield settings

    clean_redis_namespace(redis_url, settings.topic_prefix)
