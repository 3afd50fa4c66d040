"""Write N transaction records shaped as the workers write them (hash h,s; index entry by event
time per partition) under namespace 'fill.' as RESP on stdout, for redis-cli --pipe."""
import sys, hashlib, os
n = int(sys.argv[1]); parts = 12
out = sys.stdout.buffer
def cmd(*a):
    b = [b"*%d\r\n" % len(a)]
    for x in a:
        x = x if isinstance(x, bytes) else str(x).encode()
        b.append(b"$%d\r\n%s\r\n" % (len(x), x))
    return b"".join(b)
t0 = 1_764_900_000_000
buf = []
for i in range(n):
    tx = f"tx-21-9f3c2a1b-{i:09d}"
    h = hashlib.blake2b(tx.encode(), digest_size=16).hexdigest()
    buf.append(cmd("HSET", f"ps:fill.t:{tx}", "h", h, "s", "APPROVED"))
    buf.append(cmd("ZADD", f"ps:fill.tx:{i % parts}", t0 + i, tx))
    if len(buf) >= 20000:
        out.write(b"".join(buf)); buf = []
out.write(b"".join(buf))
