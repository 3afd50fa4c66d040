"""`make bench` as a user runs it (its quick mode): the whole pipeline, measured and reconciled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from confluent_kafka.admin import AdminClient
from redis import Redis

from paystream.launch import environment
from streams.settings import Settings, notify_redis_url

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
PROCESSES = {"worker-1", "worker-2", "sink-ledger", "sink-reporting", "sink-labels",
             "kafka", "postgres", "redis", "redis-notify", "load-generator"}
#: The local stack's helpers, metered where the machine runs them (deploy/local/rewrite_idle.py
#: needs root and a cpu cgroup).
HELPERS = {"redis-rewrite-idle"}


def test_quick_bench_measures_every_process_and_reconciles(stack_settings: Settings,
                                                           tmp_path: Path) -> None:
    # Rules only (an empty models folder, no training): the harness is what is under test here.
    env = environment(PAYSTREAM_MODELS_DIR=str(tmp_path / "models"))
    run = subprocess.run([sys.executable, "-m", "loadtest.bench", "--quick", "--no-train",
                          "--out", str(tmp_path), "--name", "e2e"],
                         env=env, cwd=REPO, capture_output=True, text=True, timeout=900,
                         check=False)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    result = json.loads((tmp_path / "e2e.json").read_text())
    assert result["reconciled"] is True
    # PostgreSQL is settled (autovacuum done, a CHECKPOINT) before each phase and each of the
    # floor's copies: the local stack lets its paystream role CHECKPOINT.
    assert run.stdout.count(", CHECKPOINT ") == 2 + 3, run.stdout[-4000:]
    assert "CHECKPOINT refused" not in run.stdout
    assert result["transactions"] == 40_000
    top, fixed = result["phases"]["max_rate"], result["phases"]["fixed_rate"]
    assert (top["decisions"], fixed["decisions"]) == (20_000, 20_000)
    assert (top["dead_lettered"], fixed["dead_lettered"]) == (0, 0)
    # One stream: the fixed rate offers the same accounts' next transactions (none stale, none
    # a repeat of the max-rate phase's: every one decided once).
    assert top["accounts"] == fixed["accounts"] == 10_000
    assert fixed["offered_tps"] == 2_000
    # Sustained throughput is bounded by what was offered (10 s at 2,000/s) and is not zero.
    assert 0 < fixed["tps"] <= 2_000 * 1.05
    assert result["tps"] == top["tps"] > 0
    assert 0 < result["e2e_p50_ms"] <= result["e2e_p95_ms"] <= result["e2e_p99_ms"] \
        <= result["e2e_max_ms"]
    # Each phase says what PostgreSQL's autovacuum did in it and how fast the machine ran.
    assert all(isinstance(phase["postgres_autovacuums"], list) for phase in (top, fixed))
    assert top["speed_probe_us"] > 0 and fixed["speed_probe_us"] > 0
    assert fixed["machine_slowdown"] == pytest.approx(
        fixed["speed_probe_us"] / top["speed_probe_us"], abs=0.01)
    cpu = result["cpu_us_per_tx"]
    measured = set(cpu) - {"total"}
    assert "total" in cpu and PROCESSES <= measured <= PROCESSES | HELPERS, sorted(cpu)
    # The notifications' Redis holds only webhook delivery outcomes, and nothing delivers
    # webhooks in the bench; no fraud label comes back during a bench: both may well be idle.
    assert all(cpu[name] > 0 for name in PROCESSES - {"redis-notify", "sink-labels"}), cpu
    assert cpu["total"] == pytest.approx(sum(cpu[name] for name in measured), abs=1.0)
    assert result["machine"]["cores"] == os.cpu_count()
    # The run's physical floor, measured on its own messages and rows, and the multiple of it.
    floor = result["floor"]
    assert floor["kafka_messages"]["input"] == 40_000
    assert floor["kafka_messages"]["decisions"] >= 40_000  # a re-sent outbox may add copies
    assert floor["pg_rows"]["report_transactions"] == 40_000
    assert floor["us_per_tx"]["kafka"] > 0 and floor["us_per_tx"]["postgres"] > 0
    # Each part is the lowest of its measurements (the same work each time: what moves one only
    # adds CPU; one alone moved by up to 1.5x)
    repeats = floor["postgres_us_per_tx_repeats"]
    assert len(repeats) == 3 and floor["us_per_tx"]["postgres"] == min(repeats)
    repeats = floor["kafka_us_per_tx_repeats"]
    assert len(repeats) == 2 and floor["us_per_tx"]["kafka"] == min(repeats)
    assert result["floor_us_per_tx"] == floor["us_per_tx"]["total"]
    # paystream's CPU is every process but the load generator (the upstream producers'
    # stand-in; the floor starts from the input already in Kafka), reported apart.
    paystream = cpu["total"] - cpu["load-generator"]
    assert result["cpu_us_per_tx_total"] == pytest.approx(paystream, abs=0.11)
    assert result["cpu_us_per_tx_with_generator"] == cpu["total"]
    assert result["floor_multiple"] == pytest.approx(paystream / result["floor_us_per_tx"],
                                                     abs=0.01)
    assert result["floor_multiple_with_generator"] == pytest.approx(
        cpu["total"] / result["floor_us_per_tx"], abs=0.01)
    # Who was busy when: every measured process has a per-second series, and the workers'
    # seconds add up to about their CPU in the two phases (the timeline also holds the idle
    # seconds between them).
    cores = result["cpu_cores_by_second"]
    assert {"worker-1", "worker-2", "kafka", "redis", "postgres"} <= set(cores)
    worker_s = sum(phase["cpu_us_per_tx"][f"worker-{n}"] * 20_000 / 1e6
                   for phase in (top, fixed) for n in (1, 2))
    assert sum(sum(cores[f"worker-{n}"]) for n in (1, 2)) == pytest.approx(worker_s, rel=0.25)
    assert 0 < fixed["busy_share"] <= 1.0
    assert (tmp_path / "e2e.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = (tmp_path / "e2e.md").read_text()
    assert "Reconciled: **true**" in summary and "| max rate | 20,000 |" in summary
    # A reconciled run leaves nothing behind: no topics, no schema, no Redis keys.
    prefix = f"bench-{result['run_id']}."
    assert "topics, the schema and" in run.stdout
    left = [t for t in AdminClient({"bootstrap.servers": stack_settings.kafka_bootstrap_servers})
            .list_topics(timeout=30).topics if t.startswith(prefix)]
    assert left == []
    with psycopg.connect(stack_settings.database_url, autocommit=True) as db:
        assert not db.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s",
                              (f"bench_{result['run_id'].replace('-', '_')}",)).fetchall()
    for url in (stack_settings.redis_url, notify_redis_url(stack_settings)):
        with Redis.from_url(url) as redis:
            assert next(redis.scan_iter(match=f"ps:{prefix}*", count=5000), None) is None, url
