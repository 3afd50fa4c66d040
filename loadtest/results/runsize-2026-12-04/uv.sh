#!/bin/bash
# worker_bench pairs: f7aa6cb (asyncio) vs /tmp/wt-uv (uvloop), alternated
cd /work/main
N=${N:-100000}
for i in 1 2 3 4; do
  for mode in base uv; do
    R=/work/main; [ $mode = uv ] && R=/tmp/wt-uv
    PAYSTREAM_MODELS_DIR=/tmp/models-45 timeout 500 .venv/bin/python -m loadtest.worker_bench --transactions $N --repo $R > /tmp/coloc/uv-$mode-$N-$i.json 2>/tmp/coloc/uv-$mode-$N-$i.err
    sleep 2
  done
done
echo done > /tmp/coloc/uv-$N.done
