"""phases.py LOG: a worker's 2-s stats lines (worker_bench --stats-every-s 2) as ms per batch of
each agent's phases, with the transactions decided so far and the credits per settle batch."""
import re, sys
cum = 0
print("  tx_cum  bT  T:read comp commit send wait |  bC  C:read comp commit send  credits/batch")
for line in open(sys.argv[1]):
    if "last 2s:" not in line:
        continue
    d = {k: int(v) for k, v in re.findall(r"([\w:]+)=(\d+)", line.split("last 2s:")[1])}
    bt, bc = d.get("batches:transactions", 0), d.get("batches:credits", 0)
    cum += d.get("APPROVE", 0) + d.get("DECLINE", 0) + d.get("REVIEW", 0)
    if not bt or not bc:
        continue
    t = [d.get(f"ms:transactions:{p}", 0) / bt for p in ("read", "compute", "commit", "send", "wait")]
    c = [d.get(f"ms:credits:{p}", 0) / bc for p in ("read", "compute", "commit", "send")]
    print(f"{cum:8d} {bt:3d} " + " ".join(f"{v:6.0f}" for v in t) + f" | {bc:3d} "
          + " ".join(f"{v:6.0f}" for v in c) + f"  {d.get('credited', 0) / bc:8.0f}")
