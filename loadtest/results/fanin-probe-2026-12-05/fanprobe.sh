#!/bin/bash
# usage: fanprobe.sh N — worker_bench 100k alternated: HEAD, without fan-in and label-risk I/O (A), without label-risk reads (B)
cd /work/main
for i in $(seq 1 $1); do
  for v in base A B; do
    R=/work/main; [ $v = A ] && R=/tmp/wt-hackA; [ $v = B ] && R=/tmp/wt-hackB
    PAYSTREAM_MODELS_DIR=/tmp/models-45 .venv/bin/python -m loadtest.worker_bench --transactions 100000 --repo $R > /tmp/pgprobe/fp-$v-$i.json 2>/tmp/pgprobe/fp-$v-$i.err
  done
done
echo done > /tmp/pgprobe/fanprobe.done
