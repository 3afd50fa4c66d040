#!/bin/bash
while [ ! -f /tmp/s7/chain.done ]; do sleep 5; done
cd /work/main
OUT=/tmp/s7 EXTRA="--worker-batch-size 4000" bash loadtest/results/fetch-wait-2026-12-06/run.sh f2 f80a588
OUT=/tmp/s7 bash loadtest/results/fetch-wait-2026-12-06/run.sh s2 f80a588
echo chain2-done > /tmp/s7/chain2.done
