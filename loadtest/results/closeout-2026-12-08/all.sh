#!/bin/bash
# The closing runs of 2026-12-08 morning, one at a time: main twice around the baseline, then once more.
D=/work/main/loadtest/results/closeout-2026-12-08
cd /work/main
STEPS="r1:846f7bb" bash $D/chain.sh
OUT=$D TX=1000000 RATE_S=60 bash loadtest/results/final-2026-12-05/base.sh base77
git worktree remove --force /tmp/wt-base
STEPS="r2:846f7bb r3:846f7bb" bash $D/chain.sh
echo done > $D/all.done
