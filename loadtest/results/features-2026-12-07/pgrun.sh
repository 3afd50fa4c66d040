#!/bin/bash
# pgrun.sh NAME COMMIT: fetch-wait-2026-12-06/run.sh (the whole bench from a worktree, RESETSTAT=no)
# with scale-2026-12-05/pgwatch.py beside it (every postgres process's CPU each 0.5 s) and the
# phases' wall times (NAME.phases.txt), for pgsplit.py.
set -u
OUT=${OUT:-/work/main/loadtest/results/features-2026-12-07}; NAME=$1; C=$2
R=/work/main/loadtest/results
cd /work/main
/work/main/.venv/bin/python $R/scale-2026-12-05/pgwatch.py $OUT/$NAME.pgwatch.jsonl & PW=$!
(
  while ! grep -q "== max rate" $OUT/$NAME.console.txt 2>/dev/null; do sleep 0.2; done; echo "max_start $(date +%s.%N)" > $OUT/$NAME.phases.txt
  while ! grep -q "== fixed rate" $OUT/$NAME.console.txt 2>/dev/null; do sleep 0.2; done; echo "fixed_start $(date +%s.%N)" >> $OUT/$NAME.phases.txt
  while ! grep -q "== reading the decisions" $OUT/$NAME.console.txt 2>/dev/null; do sleep 0.2; done; echo "fixed_end $(date +%s.%N)" >> $OUT/$NAME.phases.txt
) & PH=$!
OUT=$OUT RESETSTAT=no bash $R/fetch-wait-2026-12-06/run.sh "$NAME" "$C"
kill $PW $PH 2>/dev/null
gzip -f $OUT/$NAME.pgwatch.jsonl
