#!/bin/bash
# The session's closing benches, one at a time: s71a (main at 83225a4), base71 (the baseline
# e6897cf, final-2026-12-05/base.sh at make bench's size), s71b (83225a4 again).
set -u
OUT=${OUT:-/tmp/s71}
cd /work/main
OUT=$OUT bash loadtest/results/oneworker-2026-12-07/run.sh s71a 83225a4
OUT=$OUT TX=1000000 RATE_S=60 bash loadtest/results/final-2026-12-05/base.sh base71
OUT=$OUT bash loadtest/results/oneworker-2026-12-07/run.sh s71b 83225a4
echo done > "$OUT/chain.done"
