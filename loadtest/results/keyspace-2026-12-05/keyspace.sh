#!/bin/bash
# usage: keyspace.sh N ROUNDS: worker_bench 100k on an account-state Redis without (A) and with
# (B) N more records of another namespace, alternated; each after an AOF rewrite has finished
N=$1; R=$2; cd /work/main
run() { PAYSTREAM_MODELS_DIR=/tmp/models-45 .venv/bin/python -m loadtest.worker_bench --transactions 100000 > /tmp/pgprobe/ks-$1.json 2>/tmp/pgprobe/ks-$1.err; }
rewrite() {
  redis-cli -p 16379 bgrewriteaof > /dev/null; sleep 2
  while redis-cli -p 16379 info persistence | grep -q "aof_rewrite_in_progress:1"; do sleep 1; done
  sleep 5
}
clean() { redis-cli -p 16379 --scan --pattern 'ps:fill.*' | xargs -n 5000 redis-cli -p 16379 unlink > /dev/null; rewrite; }
for i in $(seq 1 $R); do
  clean; redis-cli -p 16379 dbsize > /tmp/pgprobe/ks-A-$i.dbsize; run A-$i
  /work/main/.venv/bin/python /tmp/pgprobe/fill.py $N | redis-cli -p 16379 --pipe > /tmp/pgprobe/ks-fill-$i.log 2>&1
  rewrite; redis-cli -p 16379 dbsize > /tmp/pgprobe/ks-B-$i.dbsize; run B-$i
done
clean
echo done > /tmp/pgprobe/ks.done
