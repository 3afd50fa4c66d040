"""The commit script's records section, old layout (seven strings a new record) against new (two),
on the stack's Redis (the old script first: git show 1ee16e2:agents/commit.lua > /tmp/commit_old.lua): per round, 20 commits of 4,000 new records each into fresh keys; Redis's CPU
(INFO cpu) and EVALSHA's usec per record, rounds alternated."""
import sys, time, uuid
import redis
r = redis.Redis(port=16379)
old = r.script_load(open('/tmp/commit_old.lua').read())
new = r.script_load(open('/work/main/agents/commit.lua').read())
N, CALLS = 4000, 20
def tail():  # index, marks, holds, fan-in, outbox, sent: all empty
    return [0, 0, 86400000, 'x', 0, 0, 86400000, 64, 31, 0, 0]
def run(layout):
    r.config_resetstat()
    c0 = r.info('cpu'); t0 = c0['used_cpu_user'] + c0['used_cpu_sys']
    keys_all = []
    for _ in range(CALLS):
        keys = [f'probe:t:{uuid.uuid4().hex}' for _ in range(N)]
        keys_all += keys
        if layout == 'old':
            args = [0, N, 3600]
            for _ in range(N): args += [1, 2, 'h', uuid.uuid4().hex[:24], 's', 'APPROVED']
            args += tail()
            r.evalsha(old, len(keys), *keys, *args)
        else:
            args = [0, N]
            for _ in range(N): args += [uuid.uuid4().hex[:24], 'APPROVED']
            args += [0, 3600] + tail()
            r.evalsha(new, len(keys), *keys, *args)
    c1 = r.info('cpu'); t1 = c1['used_cpu_user'] + c1['used_cpu_sys']
    usec = r.info('commandstats')['cmdstat_evalsha']['usec']
    for i in range(0, len(keys_all), 5000): r.delete(*keys_all[i:i + 5000])
    return (t1 - t0) / (N * CALLS) * 1e6, usec / (N * CALLS)
for layout in ['old', 'new', 'new', 'old', 'old', 'new', 'new', 'old']:
    cpu, usec = run(layout)
    print(f'{layout}: Redis CPU {cpu:.2f} µs/record (with the client\'s sends), EVALSHA {usec:.2f} µs/record', flush=True)
