#!/bin/bash
# The session's whole benches, one at a time: main after this session's levers (h1), main as the
# session found it (p1), the baseline e6897cf's own bench (b1). Results in /tmp/h7.
cd /work/main
OUT=/tmp/h7 bash loadtest/results/fetch-wait-2026-12-06/run.sh h1 8d43699
OUT=/tmp/h7 bash loadtest/results/fetch-wait-2026-12-06/run.sh p1 ea9d4dd
OUT=/tmp/h7 TX=1000000 RATE_S=60 bash loadtest/results/final-2026-12-05/base.sh b1
echo chain-done > /tmp/h7/chain.done
