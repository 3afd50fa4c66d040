#!/bin/bash
# The whole bench as a pair: the rollups by COPY (2350dc4) and main before it (689c21f), one at a time.
# c1/a1 as written; then C=c2 A=a2 (c1 was the first run after `make up`: every process cost more).
OUT=${OUT:-/work/main/loadtest/results/rollcopy-2026-12-07}
R=/work/main/loadtest/results
run() { OUT=$OUT RESETSTAT=no bash $R/fetch-wait-2026-12-06/run.sh "$1" "$2"; }
run ${C:-c1} 2350dc4
run ${A:-a1} 689c21f
echo done > $OUT/chain.done
