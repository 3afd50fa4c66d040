"""The ledger sink's chain alone: PostingRows.chain over 15,000 postings of 5,000 accounts from
empty tips, best of 7; hashlib's SHA-256 of a 190-byte body beside it."""

import hashlib
import time

from paystream_avro import PostingRows

from sinks.ledger import chain

N = 15000
def posting(i, seq):
    return {"posting_id": f"tx-{i:012d}:D", "tx_id": f"tx-{i:012d}", "account": f"acct-{i % 5000:08d}",
            "currency": "EUR", "direction": "DEBIT", "amount": 1234, "balance_after": 99999,
            "account_seq": seq, "event_time": 1764000000000 + i, "posted_at": 1764000000000 + i}
seqs = {}
recs = []
for i in range(N):
    a = i % 5000
    seqs[a] = seqs.get(a, 0) + 1
    recs.append(posting(i, seqs[a]))
batch = PostingRows.from_records(recs)
best = 1e9
for r in range(7):
    tips = {}
    t = time.perf_counter(); data, rows = chain(batch, tips); best = min(best, time.perf_counter() - t)
print(f"chain: {best / N * 1e6:.3f} µs/row, rows {rows}, {len(data)} bytes")
body = b"x" * 190
t = time.perf_counter()
for _ in range(N): hashlib.sha256(body).hexdigest()
print(f"hashlib sha256: {(time.perf_counter() - t) / N * 1e6:.3f} µs/row")
