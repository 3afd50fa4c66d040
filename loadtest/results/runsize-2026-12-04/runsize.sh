#!/bin/bash
cd /work/main
for i in 1 2; do
  for n in 100000 300000; do
    PAYSTREAM_MODELS_DIR=/tmp/models-45 timeout 500 .venv/bin/python -m loadtest.worker_bench --transactions $n > /tmp/coloc/n$n-$i.json 2>/tmp/coloc/n$n-$i.err
    sleep 3
  done
done
echo done > /tmp/coloc/done3
