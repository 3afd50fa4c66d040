#!/bin/bash
# usage: base.sh NAME — the baseline e6897cf's own bench from a worktree, its own model (trained once
# into /tmp/models-base by its own code). Results copied to $OUT/NAME.* (OUT: /tmp/pgprobe).
# TX and RATE_S: the run's size (300000 and 30). PY: the venv's python to run it with (added
# 2026-12-06 late night for interpreter-2026-12-06's baseline on Debian's interpreter).
set -u
OUT=${OUT:-/tmp/pgprobe}
PY=${PY:-/work/main/.venv/bin/python}
NAME=$1; WT=/tmp/wt-base
cd /work/main
[ -d $WT ] || git worktree add -f $WT e6897cf -q --detach
ln -sfn /work/main/.local $WT/.local
if ! ls -d /tmp/models-base/fraud-v*/ > /dev/null 2>&1; then
  (cd $WT && PYTHONPATH=$WT PAYSTREAM_MODELS_DIR=/tmp/models-base $PY -m paystream train > $OUT/base-train.log 2>&1)
fi
cd $WT && PYTHONPATH=$WT PAYSTREAM_MODELS_DIR=/tmp/models-base $PY -m loadtest.bench --transactions ${TX:-300000} --rate 8000 --rate-s ${RATE_S:-30} --name $NAME --no-train > $OUT/$NAME.console.txt 2>&1
echo "rc=$?" >> $OUT/$NAME.console.txt
cp $WT/loadtest/results/$NAME.* $OUT/ 2>/dev/null
cp $WT/loadtest/results/$NAME-* $OUT/ 2>/dev/null
echo done > $OUT/$NAME.done
