#!/bin/bash
# After all.sh: goal 4 (g4.sh: two alternated pairs of one worker draining e6897cf's traffic), then goal 5 (make bench-sinks' run).
D=/work/main/loadtest/results/closeout-2026-12-08
while [ ! -f $D/all.done ]; do sleep 5; done
cd /work/main
bash $D/g4.sh
.venv/bin/python -m loadtest.sink_bench --transactions 100000 > $D/sink_bench-100k.txt 2>&1
echo "rc=$?" >> $D/sink_bench-100k.txt
echo done > $D/after.done
