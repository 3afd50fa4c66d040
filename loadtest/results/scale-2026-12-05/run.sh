#!/bin/bash
# usage: run.sh NAME COMMIT — whole bench from a worktree; Redis commandstats and the Redis
# process's user/system CPU over the max-rate phase. Results copied to /tmp/sched/NAME.*
set -u
NAME=$1; C=$2; WT=/tmp/wt-$NAME
cd /work/main
git worktree add -f $WT $C -q --detach
ln -sfn /work/main/.local $WT/.local
RPID=$(cat /work/main/.local/redis/redis.pid 2>/dev/null || cat /work/main/.local/run/redis.pid)
(
  while ! grep -q "== max rate" /tmp/sched/$NAME.console.txt 2>/dev/null; do sleep 0.2; done
  redis-cli -p 16379 CONFIG RESETSTAT > /dev/null
  python3 /tmp/sched/snap.py /tmp/sched/$NAME.snap-a.json
  awk '{print "start utime", $14, "stime", $15}' /proc/$RPID/stat > /tmp/sched/$NAME.redis-cpu.txt
  if [ -n "${PERF:-}" ]; then perf record -F 499 -g -p $RPID -o /tmp/sched/$NAME.redis-perf.data > /dev/null 2>&1 & PERFPID=$!; fi
  while ! grep -q "== fixed rate" /tmp/sched/$NAME.console.txt 2>/dev/null; do sleep 0.2; done
  python3 /tmp/sched/snap.py /tmp/sched/$NAME.snap-b.json
  awk '{print "end utime", $14, "stime", $15}' /proc/$RPID/stat >> /tmp/sched/$NAME.redis-cpu.txt
  if [ -n "${PERF:-}" ]; then kill -INT $PERFPID; fi
  redis-cli -p 16379 INFO commandstats > /tmp/sched/$NAME.redis-commandstats.txt
) &
WATCH=$!
cd $WT && PYTHONPATH=$WT PAYSTREAM_MODELS_DIR=/tmp/models-45 /work/main/.venv/bin/python -m loadtest.bench --transactions ${TX:-300000} --rate-s ${RATE_S:-30} --name $NAME ${EXTRA:-} > /tmp/sched/$NAME.console.txt 2>&1
echo "rc=$?" >> /tmp/sched/$NAME.console.txt
kill $WATCH 2>/dev/null
cp $WT/loadtest/results/$NAME.* /tmp/sched/ 2>/dev/null
cp $WT/loadtest/results/$NAME-* /tmp/sched/ 2>/dev/null
cd /work/main && git worktree remove --force $WT
echo done > /tmp/sched/$NAME.done
