#!/bin/bash
# The workers' fetch wait at the broker, 100 ms (kept since 11-30) against 50 ms: four full bench
# runs alternated, the fixed-rate phase at the same offered 2,300/s in all of them.
cd /work/main
for run in 100-a 50-a 100-b 50-b; do
  wait_ms=${run%-*}
  PAYSTREAM_WORKER_FETCH_WAIT_MS=$wait_ms .venv/bin/python -m loadtest.bench --transactions 300000 \
    --rate 2300 --rate-s 30 --profile-s 0 --no-floor --name fw-$run --out /tmp/fw \
    > /tmp/fw/bench-$run.log 2>&1
  echo "$run rc=$?" >> /tmp/fw/log
done
echo done >> /tmp/fw/log
