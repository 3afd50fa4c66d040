#!/bin/bash
# usage: wbmodes.sh OUT ROUNDS: one worker draining a backlog alone (loadtest/worker_bench, 300k
# measured after 300k), this checkout, its batches committed by agents/commit.lua and by
# paystream's Redis module (PAYSTREAM_STATE_COMMIT) in turn, the script first.
OUT=$1; N=$2
mkdir -p "$OUT"
for i in $(seq 1 "$N"); do
  for mode in lua module; do
    PAYSTREAM_STATE_COMMIT=$mode PAYSTREAM_MODELS_DIR=/tmp/models-45 .venv/bin/python -m loadtest.worker_bench \
      --transactions 300000 --after 300000 > "$OUT/wb-$mode-$i.json" 2> "$OUT/wb-$mode-$i.err"
  done
done
echo done > "$OUT/done"
