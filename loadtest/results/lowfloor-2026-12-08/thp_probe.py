"""Redis key lookups in a large keyspace with and without transparent huge pages: a scratch
redis-server (no persistence), DEBUG POPULATE N keys, then random-key MGETs and EXISTS in
pipelines; server CPU per key looked up, from /proc."""
import os, random, subprocess, sys, time
import redis

PORT = 16999
N = int(os.environ.get("N", "3000000"))
thp = sys.argv[1] == "thp"
env = dict(os.environ)
args = ["redis-server", "--port", str(PORT), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--daemonize", "no", "--enable-debug-command", "local", "--disable-thp", "no" if thp else "yes"]
if thp:
    env["MALLOC_CONF"] = "thp:always"
proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL)
try:
    r = redis.Redis(port=PORT)
    for _ in range(50):
        try:
            r.ping(); break
        except Exception:
            time.sleep(0.1)
    r.execute_command("DEBUG", "POPULATE", N, "ps:bench-20261208-014712.t:")
    def cpu():
        f = open(f"/proc/{proc.pid}/stat").read().split(")")[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    rng = random.Random(1)
    lookups = 0
    c0 = cpu(); t0 = time.time()
    for _ in range(200):
        keys = [f"ps:bench-20261208-014712.t:{rng.randrange(N)}" for _ in range(4000)]
        p = r.pipeline(transaction=True)
        for i in range(0, 4000, 1000):
            p.mget(keys[i:i + 1000])
        for i in range(0, 4000, 64):
            p.exists(*keys[i:i + 64])
        p.execute()
        lookups += 8000
    c1 = cpu()
    smaps = open(f"/proc/{proc.pid}/smaps_rollup").read()
    huge = [l for l in smaps.splitlines() if "AnonHugePages" in l][0]
    print(f"{sys.argv[1]}: {1e9 * (c1 - c0) / lookups:.0f} ns of server CPU per key looked up; {huge.strip()}; wall {time.time()-t0:.1f}s")
finally:
    proc.terminate(); proc.wait()
