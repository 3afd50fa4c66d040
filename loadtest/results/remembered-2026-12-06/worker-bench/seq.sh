#!/bin/bash
# usage: seq.sh TAG label=dir label=dir ...   (runs in the given order)
TAG=$1; shift
cd /work/main
k=0
for spec in "$@"; do
  k=$((k+1)); side=${spec%%=*}; dir=${spec#*=}
  PAYSTREAM_MODELS_DIR=/tmp/models-45 .venv/bin/python -m loadtest.worker_bench --transactions 200000 --after 400000 --accounts 50000 --repo $dir --traffic-repo /tmp/wt-head > /tmp/wbp/$TAG-$k-$side.json 2>/tmp/wbp/$TAG-$k-$side.err
  python3 -c "import json,sys;d=json.load(open('/tmp/wbp/$TAG-$k-$side.json'));print('$side', d['worker_cpu_us_per_tx'], d['redis_cpu_us_per_tx'], d['total_us_per_tx'])" >> /tmp/wbp/$TAG.txt
done
echo done >> /tmp/wbp/$TAG.txt
