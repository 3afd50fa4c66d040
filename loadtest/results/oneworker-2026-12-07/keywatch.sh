#!/bin/bash
# usage: keywatch.sh OUT — every 0.5 s until killed: wall time, the account-state Redis's key count
# and its CPU ticks (utime+stime, /proc): to see whether its CPU bursts come when the keyspace
# crosses a power of two (the main dict's expansion and incremental rehash).
RPID=$(cat /work/main/.local/run/redis.pid)
while true; do
  keys=$(redis-cli -p 16379 INFO keyspace | sed -n 's/^db0:keys=\([0-9]*\),.*/\1/p')
  ticks=$(awk '{print $14 + $15}' /proc/$RPID/stat)
  echo "$(date +%s.%N | cut -c1-14) ${keys:-0} $ticks"
  sleep 0.5
done > "$1"
