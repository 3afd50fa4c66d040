#!/bin/bash
# pgrun.sh NAME COMMIT: run.sh with pgwatch beside it and the phases' wall times
set -u
OUT=${OUT:-/tmp/s59}; NAME=$1; C=$2
cd /work/main
/work/main/.venv/bin/python loadtest/results/scale-2026-12-05/pgwatch.py $OUT/$NAME.pgwatch.jsonl & PW=$!
(
  while ! grep -q "== max rate" $OUT/$NAME.console.txt 2>/dev/null; do sleep 0.2; done; echo "max_start $(date +%s.%N)" > $OUT/$NAME.phases.txt
  while ! grep -q "== fixed rate" $OUT/$NAME.console.txt 2>/dev/null; do sleep 0.2; done; echo "fixed_start $(date +%s.%N)" >> $OUT/$NAME.phases.txt
  while ! grep -q "== reading the decisions" $OUT/$NAME.console.txt 2>/dev/null; do sleep 0.2; done; echo "fixed_end $(date +%s.%N)" >> $OUT/$NAME.phases.txt
) & PH=$!
OUT=$OUT TX=${TX:-1000000} RATE_S=${RATE_S:-60} bash loadtest/results/pack-2026-12-04/run.sh $NAME $C
kill $PW $PH 2>/dev/null
