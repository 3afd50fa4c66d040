#!/bin/bash
# usage: run.sh NAME COMMIT — whole bench from a worktree; Redis commandstats and the Redis
# process's user/system CPU over the max-rate phase. Results copied to $OUT/NAME.* (OUT: /tmp/pgprobe).
# TX and RATE_S: the run's size (300000 and 30); SNAP: a script given $OUT/NAME.snap-{a,b}.json to
# write at the phases' starts (scale-2026-12-05/snap.py); PERF=1: perf on Redis; EXTRA: bench args.
set -u
OUT=${OUT:-/tmp/pgprobe}
NAME=$1; C=$2; WT=/tmp/wt-$NAME
cd /work/main
git worktree add -f $WT $C -q --detach
ln -sfn /work/main/.local $WT/.local
RPID=$(cat /work/main/.local/redis/redis.pid 2>/dev/null || cat /work/main/.local/run/redis.pid)
(
  while ! grep -q "== max rate" $OUT/$NAME.console.txt 2>/dev/null; do sleep 0.2; done
  redis-cli -p 16379 CONFIG RESETSTAT > /dev/null
  if [ -n "${SNAP:-}" ]; then python3 $SNAP $OUT/$NAME.snap-a.json; fi
  awk '{print "start utime", $14, "stime", $15}' /proc/$RPID/stat > $OUT/$NAME.redis-cpu.txt
  if [ -n "${PERF:-}" ]; then perf record -F 499 -g -p $RPID -o $OUT/$NAME.redis-perf.data > /dev/null 2>&1 & PERFPID=$!; fi
  while ! grep -q "== fixed rate" $OUT/$NAME.console.txt 2>/dev/null; do sleep 0.2; done
  if [ -n "${SNAP:-}" ]; then python3 $SNAP $OUT/$NAME.snap-b.json; fi
  awk '{print "end utime", $14, "stime", $15}' /proc/$RPID/stat >> $OUT/$NAME.redis-cpu.txt
  if [ -n "${PERF:-}" ]; then kill -INT $PERFPID; fi
  redis-cli -p 16379 INFO commandstats > $OUT/$NAME.redis-commandstats.txt
) &
WATCH=$!
cd $WT && PYTHONPATH=$WT PAYSTREAM_MODELS_DIR=/tmp/models-45 /work/main/.venv/bin/python -m loadtest.bench --transactions ${TX:-300000} --rate-s ${RATE_S:-30} --name $NAME ${EXTRA:-} > $OUT/$NAME.console.txt 2>&1
echo "rc=$?" >> $OUT/$NAME.console.txt
kill $WATCH 2>/dev/null
cp $WT/loadtest/results/$NAME.* $OUT/ 2>/dev/null
cp $WT/loadtest/results/$NAME-* $OUT/ 2>/dev/null
cd /work/main && git worktree remove --force $WT
echo done > $OUT/$NAME.done
