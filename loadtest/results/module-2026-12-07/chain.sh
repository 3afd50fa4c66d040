#!/bin/bash
# The session's whole-bench runs, one at a time: the module's commit (4648e36) against main as
# found (dbb2c10, every batch by agents/commit.lua), alternated, and the baseline e6897cf between.
OUT=${OUT:-/work/main/loadtest/results/module-2026-12-07}
R=/work/main/loadtest/results
run() { OUT=$OUT RESETSTAT=no bash $R/fetch-wait-2026-12-06/run.sh "$1" "$2"; }
run mod1 4648e36
run lua1 dbb2c10
OUT=$OUT TX=1000000 RATE_S=60 bash $R/final-2026-12-05/base.sh base72
run lua2 dbb2c10
run mod2 4648e36
echo done > $OUT/chain.done
