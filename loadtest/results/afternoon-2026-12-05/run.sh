#!/bin/bash
# usage: run.sh NAME COMMIT — whole bench from a worktree; Redis commandstats and the Redis
# process's user/system CPU over the max-rate phase. Results copied to /tmp/pgprobe/NAME.*
set -u
NAME=$1; C=$2; WT=/tmp/wt-$NAME
cd /work/main
git worktree add -f $WT $C -q --detach
ln -sfn /work/main/.local $WT/.local
RPID=$(cat /work/main/.local/redis/redis.pid 2>/dev/null || cat /work/main/.local/run/redis.pid)
(
  while ! grep -q "== max rate" /tmp/pgprobe/$NAME.console.txt 2>/dev/null; do sleep 0.2; done
  redis-cli -p 16379 CONFIG RESETSTAT > /dev/null
  awk '{print "start utime", $14, "stime", $15}' /proc/$RPID/stat > /tmp/pgprobe/$NAME.redis-cpu.txt
  if [ -n "${PERF:-}" ]; then perf record -F 499 -g -p $RPID -o /tmp/pgprobe/$NAME.redis-perf.data > /dev/null 2>&1 & PERFPID=$!; fi
  while ! grep -q "== fixed rate" /tmp/pgprobe/$NAME.console.txt 2>/dev/null; do sleep 0.2; done
  awk '{print "end utime", $14, "stime", $15}' /proc/$RPID/stat >> /tmp/pgprobe/$NAME.redis-cpu.txt
  if [ -n "${PERF:-}" ]; then kill -INT $PERFPID; fi
  redis-cli -p 16379 INFO commandstats > /tmp/pgprobe/$NAME.redis-commandstats.txt
) &
WATCH=$!
cd $WT && PYTHONPATH=$WT PAYSTREAM_MODELS_DIR=/tmp/models-45 /work/main/.venv/bin/python -m loadtest.bench --transactions 300000 --rate-s 30 --name $NAME ${EXTRA:-} > /tmp/pgprobe/$NAME.console.txt 2>&1
echo "rc=$?" >> /tmp/pgprobe/$NAME.console.txt
kill $WATCH 2>/dev/null
cp $WT/loadtest/results/$NAME.* /tmp/pgprobe/ 2>/dev/null
cp $WT/loadtest/results/$NAME-* /tmp/pgprobe/ 2>/dev/null
cd /work/main && git worktree remove --force $WT
echo done > /tmp/pgprobe/$NAME.done
