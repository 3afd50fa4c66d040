"""BGREWRITEAOF under each rdb-key-save-delay: wall time and the child's CPU (its last /proc read)."""
import sys, time, redis
from pathlib import Path
r = redis.Redis(port=16379)
pid = int(Path('/work/main/.local/run/redis.pid').read_text())
def child():
    kids = Path(f'/proc/{pid}/task/{pid}/children').read_text().split()
    return kids[0] if kids else None
for delay in [int(d) for d in sys.argv[1:]]:
    r.config_set('rdb-key-save-delay', delay)
    t0 = time.time(); r.bgrewriteaof(); cpu = 0.0; kid = None
    while True:
        k = child() or kid
        if k:
            kid = k
            try:
                f = Path(f'/proc/{k}/stat').read_text().rsplit(')', 1)[1].split()
                cpu = (int(f[11]) + int(f[12])) / 100
            except OSError:
                pass
        if not r.info('persistence')['aof_rewrite_in_progress'] and time.time() - t0 > 0.2:
            break
        time.sleep(0.02)
    print(f'delay {delay:4d}: {time.time() - t0:6.2f} s, child cpu >= {cpu:.2f} s', flush=True)
    time.sleep(1)
r.config_set('rdb-key-save-delay', 0)
