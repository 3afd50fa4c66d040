#!/bin/bash
cd /work/main
OUT=/tmp/s7 bash loadtest/results/fetch-wait-2026-12-06/run.sh s1 f80a588
OUT=/tmp/s7 TX=1000000 RATE_S=60 bash loadtest/results/final-2026-12-05/base.sh b2
bash loadtest/results/opening-2026-12-05/g4.sh /tmp/s7/g4
echo chain-done > /tmp/s7/chain.done
