#!/bin/bash
# One bench run with the sinks and PostgreSQL at nice 10 from the max-rate phase on (every thread,
# by PID from /proc; new PostgreSQL backends inherit the postmaster's).
NAME=$1; C=$2
( while ! grep -q "== max rate" /tmp/pgprobe/$NAME.console.txt 2>/dev/null; do sleep 0.2; done
  for p in /proc/[0-9]*; do
    cmd=$(tr '\0' ' ' < $p/cmdline 2>/dev/null)
    case "$cmd" in
      postgres*|*"paystream sink"*|*"/bin/postgres"*) for t in $p/task/*; do renice -n 10 -p ${t##*/} > /dev/null 2>&1; done; echo "${p##*/} $cmd" >> /tmp/pgprobe/$NAME.niced.txt;;
    esac
  done ) &
bash /tmp/pgprobe/run.sh $NAME $C
wait
echo done > /tmp/pgprobe/$NAME.nicerun.done
