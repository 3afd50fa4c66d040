"""The bench's processes: each in a session of its own, stopped by pid."""

from __future__ import annotations

import os
from pathlib import Path

from paystream.launch import ProcessGroup, environment


def test_each_process_runs_in_a_session_of_its_own(tmp_path: Path) -> None:
    # Where the kernel schedules by session (autogroup), processes sharing the caller's session
    # share one group's CPU, while the local stack's servers each have their own.
    group = ProcessGroup(environment(), tmp_path)
    try:
        first = group.start("first", "--help")
        second = group.start("second", "--help")
        sessions = {os.getsid(first.pid), os.getsid(second.pid)}  # a zombie still has one
        assert sessions == {first.pid, second.pid}
        assert os.getsid(0) not in sessions
        assert first.wait(timeout=60) == 0 and second.wait(timeout=60) == 0
    finally:
        group.stop(grace_s=30)
    assert "Usage" in (tmp_path / "first.log").read_text()
