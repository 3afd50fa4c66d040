"""The local Redis Cluster's slot layout (deploy/local/redis_cluster.py): every slot has one
master, and the partitions' tags are spread evenly, which CRC16 alone does not do."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from redis.crc import key_slot

_PATH = Path(__file__).resolve().parents[2] / "deploy" / "local" / "redis_cluster.py"
_SPEC = importlib.util.spec_from_file_location("redis_cluster", _PATH)
assert _SPEC and _SPEC.loader
redis_cluster = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(redis_cluster)


def test_every_slot_has_one_master_and_the_partitions_spread_evenly() -> None:
    ranges = redis_cluster.slot_ranges(3, 12)
    owned = sorted(slot for master in ranges for a, b in master for slot in range(a, b + 1))
    assert owned == list(range(16384))
    per_master = [sum(any(a <= redis_cluster.partition_slot(p) <= b for a, b in master)
                      for p in range(12)) for master in ranges]
    assert per_master == [4, 4, 4]


def test_a_partitions_slot_is_the_one_redis_hashes_its_tag_to() -> None:
    # the workers' keys carry {p<N>} (streams/accounts.py tag): the layout must place that slot
    assert all(redis_cluster.partition_slot(p) == key_slot(f"{{p{p}}}".encode()) for p in range(64))
