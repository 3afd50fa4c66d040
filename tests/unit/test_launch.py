"""The bench's processes: each in a session of its own, stopped by pid; the ports the tests'
servers listen on."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from paystream.launch import EPHEMERAL_PORTS, ProcessGroup, environment, free_port


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


def test_a_free_port_is_never_one_an_outgoing_connection_could_take() -> None:
    ephemeral_low = int(EPHEMERAL_PORTS.read_text().split()[0])
    ports = [free_port() for _ in range(20)]
    assert len(set(ports)) == 20, "a port handed out twice"
    assert all(port < ephemeral_low for port in ports)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", ports[0]))  # free: the listener can have it
    node = free_port(also_free_at=10000)
    assert node + 10000 < ephemeral_low
    with socket.socket() as bus:
        bus.bind(("127.0.0.1", node + 10000))
