#!/bin/bash
# perf record of the two sinks' PostgreSQL backends (the busiest client backends) for 20 s of NAME's max-rate phase, 20 s in.
D=/work/main/loadtest/results/closeout-2026-12-08; NAME=$1
while ! grep -q "== max rate" $D/$NAME.console.txt 2>/dev/null; do sleep 0.5; done
sleep 20
pids=$(ps -eo pid,cputimes,args --sort=-cputimes | grep "postgres: paystream paystream" | grep -v grep | head -2 | awk '{print $1}' | paste -sd,)
echo "pids $pids" > $D/$NAME.pg.perf.txt
ps -o pid,args -p $pids >> $D/$NAME.pg.perf.txt
perf record -F 499 -g -o /tmp/$NAME.pg.perf.data -p "$pids" -- sleep 20 > /dev/null 2>&1
perf report -i /tmp/$NAME.pg.perf.data --no-children --sort symbol --stdio 2>/dev/null | grep -v "^$" | grep -v "^#" | grep "%" | head -100 >> $D/$NAME.pg.perf.txt
