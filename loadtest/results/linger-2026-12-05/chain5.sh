#!/bin/bash
# base-4 (e6897cf) then s2-3 (451a365, the settle linger) adjacent; then goal 4: one worker and its
# Redis draining 100k alone, the linger (451a365), the code before it (10e1c72) and e6897cf
# alternated, all on e6897cf's producer's records, each worker its own model.
bash /tmp/pgprobe/base.sh base-4 > /tmp/pgprobe/base-4.out 2>&1
bash /tmp/pgprobe/run.sh s2-3 451a365 > /tmp/pgprobe/s2-3.out 2>&1
cd /work/main
git worktree add -f /tmp/wt-lin 451a365 -q --detach
git worktree add -f /tmp/wt-prev 10e1c72 -q --detach
ln -sfn /work/main/.local /tmp/wt-lin/.local; ln -sfn /work/main/.local /tmp/wt-prev/.local
for r in 1 2; do
  for v in lin prev; do
    PAYSTREAM_MODELS_DIR=/tmp/models-45 .venv/bin/python -m loadtest.worker_bench --transactions 100000 --repo /tmp/wt-$v --traffic-repo /tmp/wt-base > /tmp/pgprobe/g4-$v-$r.json 2> /tmp/pgprobe/g4-$v-$r.err
  done
  PAYSTREAM_MODELS_DIR=/tmp/models-base .venv/bin/python -m loadtest.worker_bench --transactions 100000 --repo /tmp/wt-base --traffic-repo /tmp/wt-base > /tmp/pgprobe/g4-base-$r.json 2> /tmp/pgprobe/g4-base-$r.err
done
git worktree remove --force /tmp/wt-lin; git worktree remove --force /tmp/wt-prev
echo done > /tmp/pgprobe/chain5.done
