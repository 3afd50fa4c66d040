#!/bin/bash
# pairs.sh: one worker and its Redis draining 200k after 400k (50k accounts), ff4b8ba (before,
# from a worktree) and main (after) alternated, one at a time.
cd /work/main
for i in 1 2 3; do
  PAYSTREAM_MODELS_DIR=/tmp/models-45 timeout 900 .venv/bin/python -m loadtest.worker_bench --transactions 200000 --after 400000 --accounts 50000 --repo /tmp/wt-before > /tmp/s59/wb/before-$i.json 2>/tmp/s59/wb/before-$i.err; echo "before $i rc=$?" >> /tmp/s59/wb/log
  PAYSTREAM_MODELS_DIR=/tmp/models-45 timeout 900 .venv/bin/python -m loadtest.worker_bench --transactions 200000 --after 400000 --accounts 50000 > /tmp/s59/wb/after-$i.json 2>/tmp/s59/wb/after-$i.err; echo "after $i rc=$?" >> /tmp/s59/wb/log
done
echo done >> /tmp/s59/wb/log
