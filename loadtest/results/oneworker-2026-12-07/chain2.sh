#!/bin/bash
# After chain.sh: one worker of two lanes (4f5a0f9, --workers 1 --worker-lanes 2) alternated with
# main's two workers of one lane (83225a4): L1, s71c, L2.
set -u
OUT=${OUT:-/tmp/s71}
cd /work/main
while [ ! -f "$OUT/chain.done" ]; do sleep 5; done
OUT=$OUT EXTRA='--workers 1 --worker-lanes 2' bash loadtest/results/oneworker-2026-12-07/run.sh L1 4f5a0f9
OUT=$OUT bash loadtest/results/oneworker-2026-12-07/run.sh s71c 83225a4
OUT=$OUT EXTRA='--workers 1 --worker-lanes 2' bash loadtest/results/oneworker-2026-12-07/run.sh L2 4f5a0f9
echo done > "$OUT/chain2.done"
