#!/bin/bash
# worker_bench at 300k: 50k accounts (the default: 6 per account) vs 150k (2 per account, as 100k over 50k)
cd /work/main
for i in 1 2; do
  for acc in 50000 150000; do
    PAYSTREAM_MODELS_DIR=/tmp/models-45 timeout 500 .venv/bin/python -m loadtest.worker_bench --transactions 300000 --accounts $acc > /tmp/coloc/acc$acc-$i.json 2>/tmp/coloc/acc$acc-$i.err
    sleep 2
  done
done
echo done > /tmp/coloc/acc.done
