#!/bin/bash
# One bench run of the final code with run-queue waits per process over its max-rate phase.
NAME=$1; C=$2
( while ! grep -q "== max rate" /tmp/pgprobe/$NAME.console.txt 2>/dev/null; do sleep 0.2; done
  python3 /tmp/pgprobe/schedsnap.py snap /tmp/pgprobe/$NAME.sched-a.json
  while ! grep -q "== fixed rate" /tmp/pgprobe/$NAME.console.txt 2>/dev/null; do sleep 0.2; done
  python3 /tmp/pgprobe/schedsnap.py snap /tmp/pgprobe/$NAME.sched-b.json
  python3 /tmp/pgprobe/schedsnap.py diff /tmp/pgprobe/$NAME.sched-a.json /tmp/pgprobe/$NAME.sched-b.json > /tmp/pgprobe/$NAME.sched.txt ) &
bash /tmp/pgprobe/run.sh $NAME $C
wait
echo done > /tmp/pgprobe/$NAME.schedrun.done
