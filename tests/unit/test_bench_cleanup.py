"""The benches remove only what a run made for itself (loadtest.bench.clean_up)."""

from __future__ import annotations

import pytest

from loadtest.bench import BenchError, bench_schema, clean_up
from streams.settings import Settings


def test_only_a_bench_schema_is_dropped() -> None:
    assert bench_schema(Settings(db_schema="bench_20261130_160317")) == "bench_20261130_160317"
    assert bench_schema(Settings(db_schema="bench_sink_1a2b3c4d")) == "bench_sink_1a2b3c4d"
    assert bench_schema(Settings()) is None  # the default "paystream": the demo's and users' data
    assert bench_schema(Settings(db_schema="tenant_a")) is None


def test_no_clean_up_without_a_topic_prefix() -> None:
    with pytest.raises(BenchError, match="topic prefix"):
        clean_up(Settings(topic_prefix=""))
