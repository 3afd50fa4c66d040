#!/bin/bash
# worker_bench pairs: before = 349c0ed (a worktree), after = the working tree (triage in compiled code); alternated.
OUT=${OUT:-/tmp/s63/triage}  # files renamed triage-<name> here
cd /work/main
for i in 1 2 3; do
  PAYSTREAM_MODELS_DIR=/tmp/models-45 timeout 900 .venv/bin/python -m loadtest.worker_bench --transactions 200000 --after 400000 --accounts 50000 --repo /tmp/wt-before > "$OUT/before-$i.json" 2>"$OUT/before-$i.err"; echo "before $i rc=$?" >> "$OUT/log"
  PAYSTREAM_MODELS_DIR=/tmp/models-45 timeout 900 .venv/bin/python -m loadtest.worker_bench --transactions 200000 --after 400000 --accounts 50000 > "$OUT/after-$i.json" 2>"$OUT/after-$i.err"; echo "after $i rc=$?" >> "$OUT/log"
done
echo done >> "$OUT/log"
