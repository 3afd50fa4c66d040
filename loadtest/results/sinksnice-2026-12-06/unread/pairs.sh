#!/bin/bash
# worker_bench pairs: before = 57f41ff (a worktree), after = the working tree (never-held records
# pruned unread); alternated. Output in $OUT.
OUT=${OUT:-/tmp/s61/unread}
mkdir -p "$OUT"
cd /work/main
[ -d /tmp/wt-before ] || git worktree add -f /tmp/wt-before 57f41ff -q --detach
ln -sfn /work/main/.local /tmp/wt-before/.local
for i in 1 2 3; do
  PAYSTREAM_MODELS_DIR=/tmp/models-45 timeout 900 .venv/bin/python -m loadtest.worker_bench --transactions 200000 --after 400000 --accounts 50000 --repo /tmp/wt-before > "$OUT/before-$i.json" 2>"$OUT/before-$i.err"; echo "before $i rc=$?" >> "$OUT/log"
  PAYSTREAM_MODELS_DIR=/tmp/models-45 timeout 900 .venv/bin/python -m loadtest.worker_bench --transactions 200000 --after 400000 --accounts 50000 > "$OUT/after-$i.json" 2>"$OUT/after-$i.err"; echo "after $i rc=$?" >> "$OUT/log"
done
git worktree remove --force /tmp/wt-before
echo done >> "$OUT/log"
