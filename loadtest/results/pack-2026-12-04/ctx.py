"""Context switches and CPU per process (threads summed) over a window: python ctx.py SECONDS"""
import os, sys, time, collections
def snap():
    out = {}
    for pid in os.listdir('/proc'):
        if not pid.isdigit(): continue
        try:
            cmd = open(f'/proc/{pid}/cmdline','rb').read().replace(b'\0',b' ').decode(errors='replace')[:90]
            for tid in os.listdir(f'/proc/{pid}/task'):
                st = open(f'/proc/{pid}/task/{tid}/status').read()
                v = int(st.split('voluntary_ctxt_switches:')[1].split()[0])
                nv = int(st.split('nonvoluntary_ctxt_switches:')[1].split()[0])
                f = open(f'/proc/{pid}/task/{tid}/stat').read().rsplit(')',1)[1].split()
                cpu = int(f[11]) + int(f[12])
                out[(pid, tid)] = (cmd, v, nv, cpu)
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass
    return out
s = float(sys.argv[1]); a = snap(); time.sleep(s); b = snap()
agg = collections.defaultdict(lambda: [0, 0, 0, 0])
for k, (cmd, v, nv, cpu) in b.items():
    if k in a:
        _, v0, nv0, cpu0 = a[k]
        g = agg[(k[0], cmd)]
        g[0] += v - v0; g[1] += nv - nv0; g[2] += cpu - cpu0; g[3] += 1
rows = sorted(agg.items(), key=lambda kv: -(kv[1][0] + kv[1][1]))
tv = sum(g[0] for _, g in rows); tn = sum(g[1] for _, g in rows)
print(f"window {s}s: voluntary {tv/s:,.0f}/s, involuntary {tn/s:,.0f}/s")
for (pid, cmd), (v, nv, cpu, n) in rows[:25]:
    print(f"{v/s:8,.0f} {nv/s:7,.0f} cpu {cpu/s:5.1f}% thr {n:3d} {pid} {cmd}")
