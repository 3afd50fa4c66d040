"""usage: acsize.py INCR_AOF — what the account values an AOF incr file's MSETs wrote are made of:
mean bytes per account of each field of the state (msgpack), and of the key."""
import sys, collections, msgspec
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository
from streams.accounts import AccountState
data = open(sys.argv[1], 'rb').read()
pos = 0; sizes = []; parts = collections.Counter(); n = 0
enc = msgspec.msgpack.Encoder()
while pos < len(data) and n < 200000:
    end = data.index(b'\r\n', pos); cnt = int(data[pos+1:end]); pos = end + 2
    args = []
    for _ in range(cnt):
        end = data.index(b'\r\n', pos); ln = int(data[pos+1:end]); pos = end + 2
        args.append(data[pos:pos+ln]); pos += ln + 2
    if args[0] != b'MSET': continue
    for k, v in zip(args[1::2], args[2::2]):
        ver, _, body = v.partition(b'|')
        raw = msgspec.msgpack.decode(body)
        n += 1
        sizes.append(len(v))
        parts['key'] += len(k)
        for name, field in zip(('fmt','balances','holds','seq','applied','profile','credit_marks'), raw):
            parts[name] += len(enc.encode(field))
        if n < 3: print(k, raw[:5], len(raw[5]) if len(raw) > 5 else None, raw[6] if len(raw) > 6 else None)
print('accounts', n, 'mean value bytes', sum(sizes)/n)
for k, v in parts.most_common(): print(k, round(v/n, 1))
