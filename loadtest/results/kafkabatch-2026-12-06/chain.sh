#!/bin/bash
# chain.sh: the session's make-bench runs one at a time: after (HEAD), before (ff4b8ba), the baseline.
cd /work/main
HEAD=$(git rev-parse --short HEAD)
OUT=/tmp/s59 bash /tmp/s59/pgrun.sh a1 $HEAD > /tmp/s59/a1.run.log 2>&1
OUT=/tmp/s59 bash /tmp/s59/pgrun.sh m3 ff4b8ba > /tmp/s59/m3.run.log 2>&1
OUT=/tmp/s59 TX=1000000 RATE_S=60 bash loadtest/results/final-2026-12-05/base.sh bm4 > /tmp/s59/bm4.run.log 2>&1
bash /tmp/s59/g4/g4.sh > /tmp/s59/g4/run.log 2>&1
echo chain-done > /tmp/s59/chain.done
