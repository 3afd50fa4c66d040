#!/bin/bash
cd /work/main
for run in 100-a 400-a 100-b 400-b; do
  pct=${run%-*}
  .venv/bin/python -c "import redis; r=redis.Redis(port=16379); r.config_set('auto-aof-rewrite-percentage', $pct); print(r.config_get('auto-aof-rewrite-percentage'))" >> /tmp/aof/log
  .venv/bin/python -m loadtest.bench --transactions 300000 --rate-s 30 --name aof-$run --out /tmp/aof > /tmp/aof/bench-$run.log 2>&1
  echo "$run rc=$?" >> /tmp/aof/log
done
.venv/bin/python -c "import redis; r=redis.Redis(port=16379); r.config_set('auto-aof-rewrite-percentage', 100)"
echo done >> /tmp/aof/log
