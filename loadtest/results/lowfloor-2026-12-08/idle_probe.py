"""What the pipeline's processes and the servers cost with nothing to do: two workers and the
three sinks started as the bench starts them (paystream.launch), on fresh topics and schema, no
traffic; after WARM_S, each process tree's CPU over MEASURE_S from /proc. The sinks' fetch wait
comes from PAYSTREAM_SINK_FETCH_WAIT_MS in the environment (default 100).

    python loadtest/results/lowfloor-2026-12-08/idle_probe.py NAME
"""

import json
import os
import subprocess
import sys
import time
import uuid

from loadtest.bench import clean_up
from loadtest.procstat import REPO, stack_pids, tree_cpu_s
from paystream.launch import ProcessGroup, command, environment

WARM_S, MEASURE_S = 40.0, 60.0


def main() -> None:
    name = sys.argv[1]
    run_id = f"idle{uuid.uuid4().hex[:6]}"
    os.environ["PAYSTREAM_TOPIC_PREFIX"] = f"{run_id}."
    os.environ["PAYSTREAM_DB_SCHEMA"] = run_id
    from streams.settings import load_settings

    settings = load_settings()
    env = environment(settings)
    logs = REPO / ".local" / "bench" / run_id
    logs.mkdir(parents=True, exist_ok=True)
    subprocess.run(command("topics", "create"), env=env, cwd=REPO, check=True, capture_output=True)
    subprocess.run(command("db", "migrate"), env=env, cwd=REPO, check=True, capture_output=True)
    group = ProcessGroup(env, logs, cwd=REPO)
    pids = dict(stack_pids())
    try:
        for n in (1, 2):
            pids[f"worker-{n}"] = group.start(f"worker-{n}", "worker").pid
        for sink in ("ledger", "reporting", "labels"):
            pids[f"sink-{sink}"] = group.start(f"sink-{sink}", "sink", sink).pid
        time.sleep(WARM_S)
        before = {k: tree_cpu_s(p) or 0.0 for k, p in pids.items()}
        time.sleep(MEASURE_S)
        after = {k: tree_cpu_s(p) or 0.0 for k, p in pids.items()}
    finally:
        group.stop()
    share = {k: round(100 * (after[k] - before[k]) / MEASURE_S, 2) for k in pids}
    print(json.dumps({"name": name, "sink_fetch_wait_ms": settings.sink_fetch_wait_ms,
                      "percent_of_a_core": share}), flush=True)
    clean_up(settings)


if __name__ == "__main__":
    main()
