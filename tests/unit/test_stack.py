"""The local stack's manager (deploy/local/stack.py), without starting anything: where its ports
come from, what it tells the processes, how it reports a stack that is not there."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from streams.settings import Settings

LOCAL = Path(__file__).resolve().parents[2] / "deploy" / "local"
STACK = LOCAL / "stack.py"
sys.path.insert(0, str(LOCAL))
import stack_base as stack  # noqa: E402  (deploy/local is not a package)


def test_the_ports_are_paystreams_defaults_and_the_environment_points_at_them(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("PAYSTREAM_KAFKA_PORT", "PAYSTREAM_PG_PORT", "PAYSTREAM_REDIS_PORT",
                 "PAYSTREAM_NOTIFY_REDIS_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PAYSTREAM_STATE_DIR", str(tmp_path))
    env = stack.Config.from_environment().environment()
    defaults = Settings.model_fields
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == defaults["kafka_bootstrap_servers"].default
    assert env["DATABASE_URL"] == defaults["database_url"].default
    assert env["REDIS_URL"] == defaults["redis_url"].default
    assert env["NOTIFY_REDIS_URL"] == defaults["notify_redis_url"].default
    assert env["PAYSTREAM_METRICS_TARGETS_DIR"] == str(tmp_path / "prometheus" / "targets")


def test_a_moved_port_moves_the_environment_and_a_bad_one_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYSTREAM_PG_PORT", "25432")
    assert ":25432/" in stack.Config.from_environment().environment()["DATABASE_URL"]
    monkeypatch.setenv("PAYSTREAM_REDIS_PORT", "70000")
    with pytest.raises(stack.StackError, match="PAYSTREAM_REDIS_PORT"):
        stack.Config.from_environment()


def test_templates_are_rendered_and_rewritten_only_when_they_change(tmp_path: Path) -> None:
    template, out = tmp_path / "in.conf", tmp_path / "out.conf"
    template.write_text("port @PORT@\ndir @DIR@\n")
    stack.render(template, out, {"PORT": "1234", "DIR": "/x"})
    assert out.read_text() == "port 1234\ndir /x\n"
    before = out.stat().st_mtime_ns
    stack.render(template, out, {"PORT": "1234", "DIR": "/x"})
    assert out.stat().st_mtime_ns == before


def test_status_of_a_stack_that_is_not_there_says_stopped_and_exits_3(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "PAYSTREAM_STATE_DIR": str(tmp_path),
           "PAYSTREAM_KAFKA_PORT": "29092", "PAYSTREAM_PG_PORT": "25432",
           "PAYSTREAM_REDIS_PORT": "26379", "PAYSTREAM_NOTIFY_REDIS_PORT": "26380",
           "PAYSTREAM_PROMETHEUS_PORT": "29090"}
    done = subprocess.run([sys.executable, str(STACK), "status"], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 3, done.stderr
    assert done.stdout.splitlines() == [f"{name}: stopped" for name in
                                        ("kafka", "postgres", "redis", "redis-notify", "prometheus",
                                         "redis-rewrite-idle")]
