#!/bin/bash
# usage: run.sh NAME COMMIT  — whole bench from a worktree, with the PG per-process sampler and
# Redis commandstats over the max-rate phase. Results copied to /tmp/pgprobe/NAME.*
set -u
NAME=$1; C=$2; WT=/tmp/wt-$NAME
cd /work/main
git worktree add -f $WT $C -q --detach
ln -sfn /work/main/.local $WT/.local
rm -rf /tmp/pgprobe/$NAME.flags; mkdir -p /tmp/pgprobe/$NAME.flags
PM=$(head -1 /work/main/.local/postgres/data/postmaster.pid)
/work/main/.venv/bin/python /tmp/pgprobe/pgcpu.py $PM /tmp/pgprobe/$NAME.flags > /tmp/pgprobe/$NAME.pgcpu.txt 2>&1 &
SAMPLER=$!
(
  while ! grep -q "== max rate" /tmp/pgprobe/$NAME.console.txt 2>/dev/null; do sleep 0.2; done
  redis-cli -p 16379 CONFIG RESETSTAT > /dev/null
  touch /tmp/pgprobe/$NAME.flags/START
  while ! grep -q "== fixed rate" /tmp/pgprobe/$NAME.console.txt 2>/dev/null; do sleep 0.2; done
  touch /tmp/pgprobe/$NAME.flags/STOP
  redis-cli -p 16379 INFO commandstats > /tmp/pgprobe/$NAME.redis-commandstats.txt
) &
WATCH=$!
cd $WT && PYTHONPATH=$WT PAYSTREAM_MODELS_DIR=/tmp/models-43 /work/main/.venv/bin/python -m loadtest.bench --transactions 300000 --rate-s 30 --name $NAME ${EXTRA:-} > /tmp/pgprobe/$NAME.console.txt 2>&1
echo "rc=$?" >> /tmp/pgprobe/$NAME.console.txt
touch /tmp/pgprobe/$NAME.flags/START /tmp/pgprobe/$NAME.flags/STOP
wait $SAMPLER; kill $WATCH 2>/dev/null
cp $WT/loadtest/results/$NAME.* /tmp/pgprobe/ 2>/dev/null
cp $WT/loadtest/results/$NAME-* /tmp/pgprobe/ 2>/dev/null
cd /work/main && git worktree remove --force $WT
echo done > /tmp/pgprobe/$NAME.done
