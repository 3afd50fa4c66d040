"""The floor's PostgreSQL copies (loadtest/floor.py measure_postgres, three each, as the bench
takes them) measured again and again on one kept run's schema, with PostgreSQL restarted between
some rounds: does what the run left in the server set the floor? usage (after `make bench ...
--keep`): floor_probe.py SCHEMA ROUNDS [restart...], e.g. `floor_probe.py bench_x 4 2 3`
restarts PostgreSQL before rounds 2 and 3."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from loadtest.floor import measure_postgres
from loadtest.procstat import pid_from_file, tree_cpu_s
from streams.settings import Settings

schema, rounds = sys.argv[1], int(sys.argv[2])
restart_before = {int(a) for a in sys.argv[3:]}
settings = Settings()
for r in range(1, rounds + 1):
    if r in restart_before:
        for step in ("stop", "start"):
            subprocess.run(["deploy/local/stack.sh", step, "postgres"], check=True,
                           capture_output=True)
    pid = pid_from_file("postgres")
    rows, client_s, server_s, repeats = asyncio.run(measure_postgres(
        settings.database_url, schema, lambda: tree_cpu_s(pid) or 0.0))
    tx = rows["report_transactions"]
    per = [round((c + s) / tx * 1e6, 1) for c, s in repeats]
    print(f"round {r}{' (after a restart)' if r in restart_before else ''}: "
          f"µs/tx of the three copies {per}", flush=True)
