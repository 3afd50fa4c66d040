"""Sample the account-state Redis every 2 s: keys, Lua memory, EVALSHA calls and CPU per call
(loadtest/results/final-2026-12-05/redis-growth-worker-bench-300k.txt).

    python redis_growth.py SECONDS
"""
import redis, time, sys
pid=int(open('/work/main/.local/run/redis.pid').read())
r=redis.Redis(port=16379)
def cpu():
    f=open(f'/proc/{pid}/stat').read().split(')')[1].split()
    return (int(f[11])+int(f[12]))/100
prev=None
end=time.time()+float(sys.argv[1])
while time.time()<end:
    c=cpu(); st=r.info('commandstats').get('cmdstat_evalsha',{}); k=r.dbsize(); m=r.info('memory')
    calls=st.get('calls',0)
    if prev:
        dc=calls-prev[1]; dcpu=c-prev[0]
        if dc: print(f"keys {k:>8} lua_mem {m['used_memory_lua']>>10:>7}K  evalsha {dc:3d} cpu {dcpu:5.2f}s  per-call {1000*dcpu/dc:6.1f} ms", flush=True)
    prev=(c,calls)
    time.sleep(2)
