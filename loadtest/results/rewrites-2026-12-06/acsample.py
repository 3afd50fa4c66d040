import sys, msgpack, collections
data = open(sys.argv[1], 'rb').read()
i = data.index(b'MSET')
# walk a few MSET commands
starts = []
pos = 0
for _ in range(3):
    pos = data.index(b'$4\r\nMSET\r\n', pos + 1); starts.append(pos)
sizes = collections.Counter(); parts = collections.Counter(); count = 0
for s in starts:
    i = s + len(b'$4\r\nMSET\r\n')
    while i < len(data) and data[i:i+1] == b'$':
        j = data.index(b'\r\n', i); ln = int(data[i+1:j]); i = j + 2
        key = data[i:i+ln]; i += ln + 2
        j = data.index(b'\r\n', i); ln = int(data[i+1:j]); i = j + 2
        val = data[i:i+ln]; i += ln + 2
        ver, _, st = val.partition(b'|')
        fmt, bal, holds, seq, applied, profile, marks = msgpack.unpackb(st, raw=False)
        count += 1
        sizes[len(val)//20*20] += 1
        parts['key'] += len(key); parts['val'] += len(val)
        for name, v in (('bal', bal), ('holds', holds), ('seq', seq), ('applied', applied), ('profile', profile), ('marks', marks)):
            parts[name] += len(msgpack.packb(v))
        if count < 4: print(key, ver, fmt, bal, holds, seq, applied, len(profile), profile[:40], marks)
print(count, {k: round(v/count, 1) for k, v in parts.items()})
print(sorted(sizes.items()))
