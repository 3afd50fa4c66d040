#!/bin/bash
# usage: mypairs.sh TAG N — worker_bench 100k alternated: /tmp/wt-old (plain) and /tmp/wt-mypyc (compiled)
TAG=$1; N=$2
cd /work/main
for i in $(seq 1 $N); do
  for w in old mypyc; do
    PAYSTREAM_MODELS_DIR=/tmp/models-45 .venv/bin/python -m loadtest.worker_bench --transactions 100000 --repo /tmp/wt-$w > /tmp/pgprobe/$TAG-$w-$i.json 2>/tmp/pgprobe/$TAG-$w-$i.err
  done
done
echo done > /tmp/pgprobe/$TAG.done
