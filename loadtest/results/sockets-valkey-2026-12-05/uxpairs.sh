#!/bin/bash
# usage: uxpairs.sh N — worker_bench 100k alternated: Redis over TCP, over the unix socket
cd /work/main
for i in $(seq 1 $1); do
  PAYSTREAM_MODELS_DIR=/tmp/models-45 .venv/bin/python -m loadtest.worker_bench --transactions 100000 > /tmp/pgprobe/ux-tcp-$i.json 2>/tmp/pgprobe/ux-tcp-$i.err
  REDIS_URL="unix:///work/main/.local/redis/redis.sock?db=0" PAYSTREAM_MODELS_DIR=/tmp/models-45 .venv/bin/python -m loadtest.worker_bench --transactions 100000 > /tmp/pgprobe/ux-unix-$i.json 2>/tmp/pgprobe/ux-unix-$i.err
done
echo done > /tmp/pgprobe/uxpairs.done
