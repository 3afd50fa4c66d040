#!/bin/bash
# After chain2.sh and a `make down; make up` (the fresh-clone CI between): c758e5f, whose floor reads
# the speed probe around its PostgreSQL copies, twice; c5 is the first run after `make up`.
OUT=${OUT:-/work/main/loadtest/results/rollcopy-2026-12-07}
R=/work/main/loadtest/results
run() { OUT=$OUT RESETSTAT=no bash $R/fetch-wait-2026-12-06/run.sh "$1" "$2"; }
run c5 c758e5f
run c6 c758e5f
echo done > $OUT/chain3.done
