#!/bin/bash
# usage: mallocpairs.sh OUT ROUNDS: one worker draining 300k after 300k (loadtest/worker_bench),
# this checkout's code, alternated: glibc's malloc under Python's own allocator (p), then Debian's
# jemalloc preloaded into every process the bench starts (j; the stack's servers run already).
OUT=$1; N=$2
JE=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
mkdir -p "$OUT"
for i in $(seq 1 "$N"); do
  PAYSTREAM_MODELS_DIR=/tmp/models-45 .venv/bin/python -m loadtest.worker_bench \
    --transactions 300000 --after 300000 > "$OUT/wb-p-$i.json" 2> "$OUT/wb-p-$i.err"
  LD_PRELOAD=$JE PAYSTREAM_MODELS_DIR=/tmp/models-45 .venv/bin/python -m loadtest.worker_bench \
    --transactions 300000 --after 300000 > "$OUT/wb-j-$i.json" 2> "$OUT/wb-j-$i.err"
done
echo done > "$OUT/done"
