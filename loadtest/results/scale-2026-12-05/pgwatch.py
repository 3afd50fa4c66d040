"""pgwatch.py OUT: every 0.5 s, each postgres process's title and CPU ticks, and what
pg_stat_activity says the autovacuum workers and the sinks' backends run; Redis's keys and
rehashing. Runs until killed."""
import asyncio, json, os, sys, time, subprocess
import asyncpg
sys.path.insert(0, "/work/main")
from streams.settings import Settings

async def main(out):
    s = Settings()
    conn = await asyncpg.connect(s.database_url)
    f = open(out, "w")
    while True:
        t = time.time()
        procs = {}
        for pid in os.listdir("/proc"):
            if not pid.isdigit(): continue
            try:
                cmd = open(f"/proc/{pid}/cmdline","rb").read().replace(b"\0",b" ").decode(errors="replace")
                if not cmd.startswith("postgres"): continue
                st = open(f"/proc/{pid}/stat").read().rsplit(")",1)[1].split()
                procs[pid] = [cmd[:70].strip(), int(st[11])+int(st[12])]
            except OSError: pass
        rows = await conn.fetch("select pid, backend_type, state, left(query, 120) q from pg_stat_activity where backend_type='autovacuum worker' or (state='active' and pid<>pg_backend_pid())")
        info = subprocess.run(["redis-cli","-p","16379","INFO","keyspace"],capture_output=True,text=True).stdout.split()
        f.write(json.dumps({"t": t, "procs": procs, "act": [dict(r) for r in rows], "redis": info[-1:]}) + "\n"); f.flush()
        await asyncio.sleep(0.5)

asyncio.run(main(sys.argv[1]))
