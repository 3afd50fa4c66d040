#!/bin/bash
# usage: wbpairs.sh OLD NEW ROUNDS — worker_bench 100k alternated from two worktrees
OLD=$1; NEW=$2; N=$3
cd /work/main
git worktree add -f /tmp/wt-old $OLD -q --detach; ln -sfn /work/main/.local /tmp/wt-old/.local
git worktree add -f /tmp/wt-new $NEW -q --detach; ln -sfn /work/main/.local /tmp/wt-new/.local
for i in $(seq 1 $N); do
  for w in old new; do
    PAYSTREAM_MODELS_DIR=/tmp/models-45 .venv/bin/python -m loadtest.worker_bench --transactions 100000 --repo /tmp/wt-$w > /tmp/pgprobe/wb-$w-$i.json 2>/tmp/pgprobe/wb-$w-$i.err
  done
done
git worktree remove --force /tmp/wt-old; git worktree remove --force /tmp/wt-new
echo done > /tmp/pgprobe/wbpairs.done
