#!/bin/bash
# usage: sched.sh batch|other — every thread of the stack's servers (and their children) to
# SCHED_BATCH or back to SCHED_OTHER. Pids from the stack's pid files.
set -u
MODE=$1; FLAG=-o; [ "$MODE" = batch ] && FLAG=-b
desc() { echo $1; for c in $(cat /proc/$1/task/*/children 2>/dev/null); do desc $c; done; }
for f in kafka postgres redis redis-notify; do
  p=$(head -1 /work/main/.local/run/$f.pid)
  [ "$f" = postgres ] && p=$(head -1 /work/main/.local/postgres/data/postmaster.pid 2>/dev/null || echo $p)
  for q in $(desc $p); do chrt -a $FLAG -p 0 $q > /dev/null || echo "failed $q"; done
  echo "$f $p: $(desc $p | wc -l) processes, $(ls /proc/$p/task | wc -l) threads of the first; policy $(chrt -p $p | head -1 | sed 's/.*: //')"
done
