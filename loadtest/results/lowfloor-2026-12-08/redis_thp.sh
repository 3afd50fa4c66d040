#!/bin/bash
# redis_thp.sh on|off: restart the local stack's account-state Redis (by its pid file) with its
# heap on transparent huge pages (on: disable-thp no + MALLOC_CONF=thp:always, as
# deploy/local/stack_servers.py starts it since 2026-12-08) or without (off: Redis's default,
# as before). Same rendered config otherwise; it reloads its AOF.
set -eu
MODE=$1
HOME_DIR=/work/main/.local/redis
PIDFILE=/work/main/.local/run/redis.pid
PID=$(cat $PIDFILE)
redis-cli -p 16379 BGREWRITEAOF > /dev/null || true   # a short AOF to reload
while [ "$(redis-cli -p 16379 info persistence | grep -c '^aof_rewrite_in_progress:1')" = 1 ]; do sleep 0.5; done
kill "$PID"
while kill -0 "$PID" 2>/dev/null; do sleep 0.2; done
if [ "$MODE" = on ]; then
  sed -i 's/^disable-thp .*/disable-thp no/' $HOME_DIR/redis.conf
  (cd $HOME_DIR && MALLOC_CONF=thp:always redis-server $HOME_DIR/redis.conf)
else
  sed -i 's/^disable-thp .*/disable-thp yes/' $HOME_DIR/redis.conf
  (cd $HOME_DIR && env -u MALLOC_CONF redis-server $HOME_DIR/redis.conf)
fi
until redis-cli -p 16379 ping 2>/dev/null | grep -q PONG; do sleep 0.3; done
until [ "$(redis-cli -p 16379 info persistence | grep -c '^loading:0')" = 1 ]; do sleep 0.3; done
echo "redis $MODE: pid $(cat $PIDFILE), disable-thp $(redis-cli -p 16379 config get disable-thp | tail -1)"
