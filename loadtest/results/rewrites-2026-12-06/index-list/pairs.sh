#!/bin/bash
# worker_bench pairs: before = a38a0b0 (a worktree), after = the working tree; alternated
cd /work/main
[ -d /tmp/wt-before ] || git worktree add -f /tmp/wt-before a38a0b0 -q --detach
ln -sfn /work/main/.local /tmp/wt-before/.local
for i in 1 2 3; do
  PAYSTREAM_MODELS_DIR=/tmp/models-45 timeout 900 .venv/bin/python -m loadtest.worker_bench --transactions 200000 --after 400000 --accounts 50000 --repo /tmp/wt-before > /tmp/s60/ixlist/before-$i.json 2>/tmp/s60/ixlist/before-$i.err; echo "before $i rc=$?" >> /tmp/s60/ixlist/log
  PAYSTREAM_MODELS_DIR=/tmp/models-45 timeout 900 .venv/bin/python -m loadtest.worker_bench --transactions 200000 --after 400000 --accounts 50000 > /tmp/s60/ixlist/after-$i.json 2>/tmp/s60/ixlist/after-$i.err; echo "after $i rc=$?" >> /tmp/s60/ixlist/log
done
git worktree remove --force /tmp/wt-before
echo done >> /tmp/s60/ixlist/log
