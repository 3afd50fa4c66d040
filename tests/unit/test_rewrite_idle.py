"""deploy/local/rewrite_idle.py on a cgroup tree made of plain files: which cgroup it makes, and
that it moves a server's children into it once each (the real kernel's part:
tests/integration/test_rewrite_idle.py)."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

LOCAL = Path(__file__).resolve().parents[2] / "deploy" / "local"
sys.path.insert(0, str(LOCAL))
import rewrite_idle  # noqa: E402  (deploy/local is not a package)


def test_on_cgroup_v1_the_group_is_made_under_the_cpu_controller_and_marked_idle(
        tmp_path: Path) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.idle").write_text("0")
    group, why = rewrite_idle.idle_group(tmp_path)
    assert group == tmp_path / "cpu" / rewrite_idle.GROUP and why == ""
    assert (group / "cpu.idle").read_text() == "1"


def test_on_cgroup_v2_the_cpu_controller_is_enabled_first(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids")
    (tmp_path / "cgroup.subtree_control").write_text("memory pids")
    group, _ = rewrite_idle.idle_group(tmp_path)
    assert group == tmp_path / rewrite_idle.GROUP
    # the kernel adds "+cpu" to what is enabled; a plain file keeps what was written last
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+cpu"
    assert (group / "cpu.idle").read_text() == "1"


def test_without_a_cpu_cgroup_it_says_why_and_makes_nothing(tmp_path: Path) -> None:
    group, why = rewrite_idle.idle_group(tmp_path)
    assert group is None and "cpu.idle" in why and list(tmp_path.iterdir()) == []


def test_a_servers_children_are_moved_once_each(tmp_path: Path) -> None:
    # This test's process stands in for a server: its pid file names it, its child is a rewrite.
    pidfile, group = tmp_path / "redis.pid", tmp_path / "group"
    pidfile.write_text(f"{os.getpid()}\n")
    group.mkdir()
    (group / "cgroup.procs").write_text("")
    child = subprocess.Popen(["sleep", "30"])
    try:
        moved: set[int] = set()
        first = rewrite_idle.move_children(group, [pidfile, tmp_path / "gone.pid"], moved)
        again = rewrite_idle.move_children(group, [pidfile], moved)
    finally:
        child.kill()
        child.wait()
    assert child.pid in first and again == []
    assert (group / "cgroup.procs").read_text() == str(first[-1])


def _event(what: int, parent: int, child: int, child_tgid: int) -> bytes:
    # nlmsghdr, cn_msg, then proc_event: what, cpu, timestamp, and a fork's four ids
    return (struct.pack("=IHHII", 0, 3, 0, 0, 0) + struct.pack("=IIIIHH", 1, 1, 0, 0, 0, 0)
            + struct.pack("=IIQ", what, 0, 0) + struct.pack("=IIII", parent, parent, child,
                                                            child_tgid))


def test_a_fork_event_names_the_parent_and_the_new_process_not_a_new_thread() -> None:
    assert rewrite_idle.parse_fork(_event(rewrite_idle.PROC_EVENT_FORK, 100, 200, 200)) == (100, 200)
    assert rewrite_idle.parse_fork(_event(rewrite_idle.PROC_EVENT_FORK, 100, 201, 100)) is None
    assert rewrite_idle.parse_fork(_event(2, 100, 200, 200)) is None  # an exec, not a fork
    assert rewrite_idle.parse_fork(b"short") is None


def test_without_process_events_it_polls(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Outside the first network namespace the kernel sends no process events: it polls instead.
    group, pidfile = tmp_path / "group", tmp_path / "redis.pid"
    group.mkdir()
    pidfile.write_text(f"{os.getpid()}\n")

    class Stop(Exception):
        pass

    def no_events() -> None:
        raise PermissionError("not in the first network namespace")

    def stop(_: float) -> None:
        raise Stop

    monkeypatch.setattr(rewrite_idle, "idle_group", lambda: (group, ""))
    monkeypatch.setattr(rewrite_idle, "process_forks", no_events)
    monkeypatch.setattr(rewrite_idle.time, "sleep", stop)
    child = subprocess.Popen(["sleep", "30"])
    try:
        try:
            rewrite_idle.run([pidfile], 0.1)
        except Stop:
            pass
    finally:
        child.kill()
        child.wait()
    assert (group / "cgroup.procs").read_text() == str(child.pid)
