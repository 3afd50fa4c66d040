#!/bin/bash
# usage: SIZES="A B" sizepairs.sh OUT ROUNDS: one worker draining a backlog alone
# (loadtest/worker_bench, 300k measured after 300k), this checkout, --batch-size A then B,
# alternated, A first.
OUT=$1; N=$2
mkdir -p "$OUT"
for i in $(seq 1 "$N"); do
  for bs in ${SIZES:-4000 8000}; do
    PAYSTREAM_MODELS_DIR=/tmp/models-45 .venv/bin/python -m loadtest.worker_bench \
      --transactions 300000 --after 300000 --batch-size $bs > "$OUT/wb-$bs-$i.json" 2> "$OUT/wb-$bs-$i.err"
  done
done
echo "done" > "$OUT/done"
