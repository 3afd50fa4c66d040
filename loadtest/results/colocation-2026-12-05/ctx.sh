#!/bin/bash
# usage: ctx.sh CONSOLE OUT — the workers' context switches over the max-rate phase
C=$1; OUT=$2
while ! grep -q "== max rate" $C 2>/dev/null; do sleep 0.2; done
for p in $(pgrep -f "paystream worker --stats-every-s"); do echo "start $p $(grep ctxt /proc/$p/status | tr '\n' ' ') $(awk '{print $14, $15}' /proc/$p/stat)"; done > $OUT
while ! grep -q "== fixed rate" $C 2>/dev/null; do sleep 0.2; done
for p in $(pgrep -f "paystream worker --stats-every-s"); do echo "end $p $(grep ctxt /proc/$p/status | tr '\n' ' ') $(awk '{print $14, $15}' /proc/$p/stat)"; done >> $OUT
