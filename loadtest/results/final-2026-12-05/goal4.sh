#!/bin/bash
# Goal 4: one worker and its Redis draining 100k alone, now against e6897cf's worker, alternated,
# both draining e6897cf's producer's records (its worker reads transactions up to schema v2).
cd /work/main
for r in 1 2; do
  PAYSTREAM_MODELS_DIR=/tmp/models-45 .venv/bin/python -m loadtest.worker_bench --transactions 100000 --traffic-repo /tmp/wt-base > /tmp/pgprobe/g4-now-$r.json 2> /tmp/pgprobe/g4-now-$r.err
  PAYSTREAM_MODELS_DIR=/tmp/models-base .venv/bin/python -m loadtest.worker_bench --transactions 100000 --repo /tmp/wt-base --traffic-repo /tmp/wt-base > /tmp/pgprobe/g4-base-$r.json 2> /tmp/pgprobe/g4-base-$r.err
done
echo done > /tmp/pgprobe/goal4.done
