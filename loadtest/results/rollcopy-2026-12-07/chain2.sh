#!/bin/bash
# After chain.sh (c1, a1, c2, a2): the rollups by COPY twice more, the baseline between, and
# main before it once more, one at a time; c2-c4 are the code's three runs in a warm stack.
OUT=${OUT:-/work/main/loadtest/results/rollcopy-2026-12-07}
R=/work/main/loadtest/results
run() { OUT=$OUT RESETSTAT=no bash $R/fetch-wait-2026-12-06/run.sh "$1" "$2"; }
run c3 2350dc4
OUT=$OUT TX=1000000 RATE_S=60 bash $R/final-2026-12-05/base.sh base73
run c4 2350dc4
run a3 689c21f
echo done > $OUT/chain2.done
