"""watch.py OUT: every 1 s, for Redis and the 'paystream worker' process: utime, stime, minflt, RSS;
Redis's EVALSHA calls and keys."""
import os, subprocess, sys, time, json
rpid = open("/work/main/.local/run/redis.pid").read().split()[0]
f = open(sys.argv[1], "w")
def st(pid):
    s = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    rss = int(s[21]) * 4096 // 1024
    return {"u": int(s[11]), "s": int(s[12]), "minflt": int(s[7]), "rss_kb": rss}
while True:
    info = subprocess.run(["redis-cli", "-p", "16379", "INFO", "all"], capture_output=True, text=True).stdout
    calls = keys = 0
    for line in info.splitlines():
        if line.startswith("cmdstat_evalsha:"):
            calls = int(line.split("calls=")[1].split(",")[0])
        if line.startswith("db0:keys="):
            keys = int(line.split("keys=")[1].split(",")[0])
    w = None
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if b"paystream\x00worker" in open(f"/proc/{pid}/cmdline", "rb").read():
                    w = st(pid); w["pid"] = int(pid)
            except OSError:
                pass
    f.write(json.dumps({"t": time.time(), "redis": st(rpid), "evalsha": calls, "keys": keys, "worker": w}) + "\n"); f.flush()
    time.sleep(1)
