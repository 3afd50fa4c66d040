"""wbwatch.py OUT: every 2 s, Redis's CPU ticks, its EVALSHA calls (one per committed batch),
its key count, and the CPU ticks of every process whose command line holds 'paystream worker'."""
import os, subprocess, sys, time, json
rpid = open("/work/main/.local/run/redis.pid").read().split()[0]
f = open(sys.argv[1], "w")
while True:
    st = open(f"/proc/{rpid}/stat").read().rsplit(")", 1)[1].split()
    info = subprocess.run(["redis-cli", "-p", "16379", "INFO", "all"], capture_output=True, text=True).stdout
    calls = 0; keys = 0
    for line in info.splitlines():
        if line.startswith("cmdstat_evalsha:"):
            calls = int(line.split("calls=")[1].split(",")[0])
        if line.startswith("db0:keys="):
            keys = int(line.split("keys=")[1].split(",")[0])
    w = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if b"paystream\x00worker" in open(f"/proc/{pid}/cmdline", "rb").read():
                    s = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
                    w += int(s[11]) + int(s[12])
            except OSError:
                pass
    f.write(json.dumps({"t": time.time(), "redis": int(st[11]) + int(st[12]), "evalsha": calls, "keys": keys, "worker": w}) + "\n"); f.flush()
    time.sleep(2)
