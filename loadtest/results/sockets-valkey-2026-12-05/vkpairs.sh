#!/bin/bash
# usage: vkpairs.sh N — worker_bench 100k alternated: the stack's Redis 7.0.15, Valkey 8.0.1 on the same port and config
cd /work/main
start() { # $1: server binary, $2: conf
  redis-cli -p 16379 shutdown > /dev/null 2>&1; sleep 1
  $1 $2; for _ in $(seq 1 100); do redis-cli -p 16379 ping 2>/dev/null | grep -q PONG && break; sleep 0.2; done
  redis-cli -p 16379 info server | grep -E "^(redis|valkey)_version|server_name" | tr -d '\r' >> /tmp/pgprobe/vk-servers.txt
}
for i in $(seq 1 $1); do
  start redis-server /work/main/.local/redis/redis.conf
  PAYSTREAM_MODELS_DIR=/tmp/models-45 .venv/bin/python -m loadtest.worker_bench --transactions 100000 > /tmp/pgprobe/vk-redis-$i.json 2>/tmp/pgprobe/vk-redis-$i.err
  start /tmp/valkey/root/usr/bin/valkey-server /tmp/valkey/valkey.conf
  PAYSTREAM_MODELS_DIR=/tmp/models-45 .venv/bin/python -m loadtest.worker_bench --transactions 100000 > /tmp/pgprobe/vk-valkey-$i.json 2>/tmp/pgprobe/vk-valkey-$i.err
done
start redis-server /work/main/.local/redis/redis.conf
echo done > /tmp/pgprobe/vkpairs.done
