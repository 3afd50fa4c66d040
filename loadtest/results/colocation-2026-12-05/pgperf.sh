#!/bin/bash
# usage: pgperf.sh CONSOLE OUT — perf of the whole machine (no call graphs) over the max-rate phase
C=$1; OUT=$2
while ! grep -q "== max rate" $C 2>/dev/null; do sleep 0.2; done
perf record -a -F 299 -o $OUT > /dev/null 2>&1 & PERFPID=$!
while ! grep -q "== fixed rate" $C 2>/dev/null; do sleep 0.2; done
kill -INT $PERFPID
