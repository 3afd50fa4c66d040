"""Per-second CPU per process (by cmdline head), for spotting what competes during a phase."""
import json
import os
import sys
import time

HZ = os.sysconf("SC_CLK_TCK")
def snap():
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit(): continue
        try:
            with open(f"/proc/{pid}/stat") as f: s = f.read()
            with open(f"/proc/{pid}/cmdline", "rb") as f: cmd = f.read().replace(b"\0", b" ").decode(errors="replace")[:160]
        except OSError: continue
        rest = s[s.rfind(")")+2:].split()
        out[pid] = (int(rest[11]) + int(rest[12]), cmd or s[s.find("(")+1:s.rfind(")")])
    return out
prev = snap(); t0 = time.time()
with open(sys.argv[1], "w") as log:
    while True:
        time.sleep(1.0)
        cur = snap(); t = time.time()
        row = {}
        for pid, (ticks, cmd) in cur.items():
            d = ticks - prev.get(pid, (0, ""))[0] if pid in prev else ticks
            if d > 0: row[f"{pid} {cmd}"] = d / HZ
        log.write(json.dumps({"t": t, "cpu": row}) + "\n"); log.flush()
        prev = cur
