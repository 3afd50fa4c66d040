"""usage: aofmix.py INCR_AOF — bytes of an AOF incr file by command (RESP arrays; the clean-up's
UNLINKs left out) and by command and key kind (the kind is the key's word after the namespace:
ac accounts, t transaction records, ob outboxes, fi fan-in sets, pd payments per day, txl index)."""
import sys, collections
data = open(sys.argv[1], 'rb').read()
limit = int(sys.argv[2]) if len(sys.argv) > 2 else len(data)
pos = 0; by = collections.Counter(); calls = collections.Counter(); argb = collections.Counter()
keyclass = collections.Counter()
while pos < limit:
    start = pos
    assert data[pos:pos+1] == b'*', (pos, data[pos:pos+20])
    end = data.index(b'\r\n', pos); n = int(data[pos+1:end]); pos = end + 2
    args = []
    for _ in range(n):
        end = data.index(b'\r\n', pos); ln = int(data[pos+1:end]); pos = end + 2
        args.append(data[pos:pos+ln]); pos += ln + 2
    cmd = args[0].upper().decode()
    if cmd == 'UNLINK': continue
    by[cmd] += pos - start; calls[cmd] += 1
    if cmd in ('HSET','MSET','ZADD','HINCRBY','PEXPIRE','DEL','RPUSH','HDEL','SET','LTRIM') and len(args) > 1:
        k = args[1].split(b':')
        cls = k[1].split(b'.')[-1].decode(errors='replace') if len(k) > 1 else '?'
        keyclass[(cmd, cls)] += pos - start
total = sum(by.values())
print('total', total)
for c, b in by.most_common(): print(f'{c:18s} {b:11d} {100*b/total:5.1f}% calls {calls[c]}')
for c, b in keyclass.most_common(15): print(c, b)
