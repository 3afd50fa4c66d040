#!/bin/bash
# usage: run.sh NAME COMMIT — pack-2026-12-04/run.sh's whole bench from a worktree, with Redis's
# commandstats and CPU over each phase (NAME.redis-{max,fixed}.txt) and the PostgreSQL log's
# lines of the run (NAME.postgres.log: autovacuums with their CPU, checkpoints). PY: the venv's
# python to run it with (added 2026-12-06 late night for interpreter-2026-12-06/pairs.sh).
# RESETSTAT=no (added 2026-12-07 midday, oneworker-2026-12-07/run.sh): no CONFIG RESETSTAT, which
# zeroes the aof_rewrites the bench counts per phase (every run here reported 0 rewrites); each
# NAME.redis-{max,fixed}.txt then holds the cumulative stats at its phase's start and end.
set -u
OUT=${OUT:-/tmp/vac}  # the runs here: OUT=/tmp/vac [PAYSTREAM_WORKER_FETCH_WAIT_MS=250] run.sh NAME 2fb5a26
PY=${PY:-/work/main/.venv/bin/python}
NAME=$1; C=$2; WT=/tmp/wt-$NAME
mkdir -p "$OUT"
cd /work/main
git worktree add -f $WT $C -q --detach
ln -sfn /work/main/.local $WT/.local
RPID=$(cat /work/main/.local/run/redis.pid)
PGLOG=/work/main/.local/postgres/postgres.log
PGSTART=$(wc -l < $PGLOG)
reset() { [ "${RESETSTAT:-yes}" = no ] || redis-cli -p 16379 CONFIG RESETSTAT > /dev/null; }
snap() {  # $1: file; appends Redis's CPU ticks and commandstats now
  awk '{print "utime", $14, "stime", $15}' /proc/$RPID/stat >> "$1"
  redis-cli -p 16379 INFO commandstats >> "$1"
}
(
  while ! grep -q "== max rate" $OUT/$NAME.console.txt 2>/dev/null; do sleep 0.2; done
  reset; snap $OUT/$NAME.redis-max.txt
  while ! grep -q "== fixed rate" $OUT/$NAME.console.txt 2>/dev/null; do sleep 0.2; done
  snap $OUT/$NAME.redis-max.txt
  reset; snap $OUT/$NAME.redis-fixed.txt
  while ! grep -q "== reading the decisions" $OUT/$NAME.console.txt 2>/dev/null; do sleep 0.2; done
  snap $OUT/$NAME.redis-fixed.txt
) &
WATCH=$!
cd $WT && PYTHONPATH=$WT PAYSTREAM_MODELS_DIR=/tmp/models-45 $PY -m loadtest.bench --transactions ${TX:-1000000} --rate-s ${RATE_S:-60} --name $NAME ${EXTRA:-} > $OUT/$NAME.console.txt 2>&1
echo "rc=$?" >> $OUT/$NAME.console.txt
kill $WATCH 2>/dev/null
tail -n +$((PGSTART + 1)) $PGLOG > $OUT/$NAME.postgres.log
cp $WT/loadtest/results/$NAME.* $OUT/ 2>/dev/null
cp $WT/loadtest/results/$NAME-* $OUT/ 2>/dev/null
cd /work/main && git worktree remove --force $WT
echo done > $OUT/$NAME.done
