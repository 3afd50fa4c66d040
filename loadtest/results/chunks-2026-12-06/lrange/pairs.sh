#!/bin/bash
# worker_bench pairs at a small batch (the fixed rate's regime: ~100 transactions a partition a
# batch): before = 99b5e08 (a worktree), after = the working tree (the index's head read in
# chunks); alternated. Output in $OUT.
OUT=${OUT:-/tmp/s62/chunk}
BS=${BS:-100}
cd /work/main
for i in 1 2 3; do
  PAYSTREAM_MODELS_DIR=/tmp/models-45 timeout 900 .venv/bin/python -m loadtest.worker_bench --transactions 100000 --after 300000 --accounts 50000 --batch-size $BS --repo /tmp/wt-before > "$OUT/before-$BS-$i.json" 2>"$OUT/before-$BS-$i.err"; echo "before $i rc=$?" >> "$OUT/log"
  PAYSTREAM_MODELS_DIR=/tmp/models-45 timeout 900 .venv/bin/python -m loadtest.worker_bench --transactions 100000 --after 300000 --accounts 50000 --batch-size $BS > "$OUT/after-$BS-$i.json" 2>"$OUT/after-$BS-$i.err"; echo "after $i rc=$?" >> "$OUT/log"
done
echo done >> "$OUT/log"
