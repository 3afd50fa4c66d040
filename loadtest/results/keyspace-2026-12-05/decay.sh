#!/bin/bash
# fill N records, rewrite, then worker_bench three times in a row, then clean
N=$1; cd /work/main
run() { PAYSTREAM_MODELS_DIR=/tmp/models-45 .venv/bin/python -m loadtest.worker_bench --transactions 100000 > /tmp/pgprobe/dk-$1.json 2>/tmp/pgprobe/dk-$1.err; }
rewrite() {
  redis-cli -p 16379 bgrewriteaof > /dev/null; sleep 2
  while redis-cli -p 16379 info persistence | grep -q "aof_rewrite_in_progress:1"; do sleep 1; done
  sleep 5
}
/work/main/.venv/bin/python /tmp/pgprobe/fill.py $N | redis-cli -p 16379 --pipe > /tmp/pgprobe/dk-fill.log 2>&1
date +%T > /tmp/pgprobe/dk-times.txt
rewrite; date +%T >> /tmp/pgprobe/dk-times.txt
for i in 1 2 3; do run B-$i; date +%T >> /tmp/pgprobe/dk-times.txt; done
sleep 60; run B-4; date +%T >> /tmp/pgprobe/dk-times.txt
redis-cli -p 16379 --scan --pattern 'ps:fill.*' | xargs -n 5000 redis-cli -p 16379 unlink > /dev/null; rewrite
echo done > /tmp/pgprobe/dk.done
