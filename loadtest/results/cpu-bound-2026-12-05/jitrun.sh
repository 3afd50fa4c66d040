#!/bin/bash
# usage: jitrun.sh NAME COMMIT — run.sh plus the broker's JIT compiler threads' CPU over the max-rate phase
NAME=$1; C=$2
KPID=$(cat /work/main/.local/run/kafka.pid)
jit() { for t in /proc/$KPID/task/*; do c=$(cat $t/comm); case "$c" in C1\ Compiler*|C2\ Compiler*) awk '{s+=$14+$15} END {printf "%d ", s}' $t/stat;; esac; done; awk '{printf "broker %d\n", $14+$15+$16+$17}' /proc/$KPID/stat; }
( while ! grep -q "== max rate" /tmp/pgprobe/$NAME.console.txt 2>/dev/null; do sleep 0.2; done
  echo "start $(jit)" > /tmp/pgprobe/$NAME.jit.txt
  while ! grep -q "== fixed rate" /tmp/pgprobe/$NAME.console.txt 2>/dev/null; do sleep 0.2; done
  echo "mid $(jit)" >> /tmp/pgprobe/$NAME.jit.txt
  while ! grep -q "== reading the decisions" /tmp/pgprobe/$NAME.console.txt 2>/dev/null; do sleep 0.2; done
  echo "end $(jit)" >> /tmp/pgprobe/$NAME.jit.txt ) &
bash /tmp/pgprobe/run.sh $NAME $C
wait
