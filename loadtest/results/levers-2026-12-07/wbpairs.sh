#!/bin/bash
# usage: wbpairs.sh OUT ROUNDS [A B]: one worker draining a backlog alone (loadtest/worker_bench,
# 300k transactions measured after 300k: the traffic's middle, payments ~70%), from the
# worktrees /tmp/wt-a and /tmp/wt-b alternated, A first; the traffic is this checkout's.
OUT=$1; N=$2; A=${3:-a}; B=${4:-b}  # here /tmp/wt-a was cf05dbd, /tmp/wt-b 947dcc5
mkdir -p "$OUT"
for i in $(seq 1 "$N"); do
  for w in "$A" "$B"; do
    PAYSTREAM_MODELS_DIR=/tmp/models-45 .venv/bin/python -m loadtest.worker_bench \
      --transactions 300000 --after 300000 --repo /tmp/wt-$w > "$OUT/wb-$w-$i.json" 2> "$OUT/wb-$w-$i.err"
  done
done
echo done > "$OUT/done"
