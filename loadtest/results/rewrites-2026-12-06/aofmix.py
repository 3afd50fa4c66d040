"""Bytes of an AOF incr file by command and key kind."""
import collections, re, sys
data = open(sys.argv[1], 'rb').read()
i = 0; n = len(data)
by = collections.Counter(); calls = collections.Counter()
def kind(key):
    m = re.match(rb'ps:[^:]*?(ac|t|tx|et|holds|ob|fi|pd|lr|id):', key)
    return m.group(1).decode() if m else key[:12].decode(errors='replace')
while i < n:
    assert data[i:i+1] == b'*', (i, data[i:i+20])
    j = data.index(b'\r\n', i); argc = int(data[i+1:j]); start = i; i = j + 2
    args = []
    for _ in range(argc):
        j = data.index(b'\r\n', i); ln = int(data[i+1:j]); i = j + 2
        args.append(data[i:i+ln]); i += ln + 2
    name = args[0].upper().decode()
    k = kind(args[1]) if len(args) > 1 else ''
    if name == 'MSET': k = 'ac'
    by[(name, k)] += i - start; calls[(name, k)] += 1
tot = sum(by.values())
print('total', tot)
for key, b in by.most_common(25): print(f'{b/tot*100:5.1f}% {b:>12,} {calls[key]:>9,} {key}')
