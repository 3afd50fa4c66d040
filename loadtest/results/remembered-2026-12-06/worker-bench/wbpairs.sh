#!/bin/bash
# usage: pairs.sh TAG DIR_A DIR_B [runs]   alternates A B B A A B ...
TAG=$1; A=$2; B=$3; N=${4:-3}
cd /work/main
order=()
for i in $(seq 1 $N); do if [ $((i % 2)) = 1 ]; then order+=(A B); else order+=(B A); fi; done
k=0
for side in "${order[@]}"; do
  k=$((k+1)); dir=$A; [ $side = B ] && dir=$B
  PAYSTREAM_MODELS_DIR=/tmp/models-45 .venv/bin/python -m loadtest.worker_bench --transactions 200000 --after 400000 --accounts 50000 --repo $dir --traffic-repo /tmp/wt-head > /tmp/wbp/$TAG-$k-$side.json 2>/tmp/wbp/$TAG-$k-$side.err
  python3 -c "import json,sys;d=json.load(open('/tmp/wbp/$TAG-$k-$side.json'));print('$side', d['worker_cpu_us_per_tx'], d['redis_cpu_us_per_tx'], d['total_us_per_tx'])" >> /tmp/wbp/$TAG.txt
done
echo done >> /tmp/wbp/$TAG.txt
