#!/bin/bash
# py-spy a lone 1M drain's worker twice: 10 s from its first commit, and 10 s from 30 s later.
cd /work/main
redis-cli -p 16379 CONFIG RESETSTAT > /dev/null
(PAYSTREAM_MODELS_DIR=/tmp/models-45 .venv/bin/python -m loadtest.worker_bench --transactions 1000000 --timeout-s 1200 > /tmp/sched/wb1m-split.json 2> /tmp/sched/wb1m-split.err) &
B=$!
while ! redis-cli -p 16379 INFO commandstats | grep -q "cmdstat_evalsha"; do sleep 0.2; done
W=$(for p in /proc/[0-9]*; do tr '\0' ' ' < $p/cmdline 2>/dev/null | grep -q "paystream worker" && basename $p; done | head -1)
echo "worker $W" > /tmp/sched/split.log
.venv/bin/py-spy record --pid $W --duration 10 --rate 100 --nonblocking --format raw --output /tmp/sched/split-early.txt >> /tmp/sched/split.log 2>&1
sleep 20
.venv/bin/py-spy record --pid $W --duration 10 --rate 100 --nonblocking --format raw --output /tmp/sched/split-late.txt >> /tmp/sched/split.log 2>&1
wait $B
echo done >> /tmp/sched/split.log
