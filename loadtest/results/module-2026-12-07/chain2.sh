#!/bin/bash
# The final code's whole bench twice (fd0b6ec: the commit and the fan-in counts by the module).
OUT=${OUT:-/work/main/loadtest/results/module-2026-12-07}
R=/work/main/loadtest/results
run() { OUT=$OUT RESETSTAT=no bash $R/fetch-wait-2026-12-06/run.sh "$1" "$2"; }
run fin1 fd0b6ec
run fin2 fd0b6ec
[ "${THIRD:-no}" = yes ] && run fin3 fd0b6ec  # added after fin2: a third for the median
echo done > $OUT/chain2.done
