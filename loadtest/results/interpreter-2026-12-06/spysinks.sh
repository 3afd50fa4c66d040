#!/bin/bash
# usage: spysinks.sh OUT NAME: once the max-rate phase runs 20 s, py-spy each sink process for 30 s
OUT=$1; NAME=$2
while ! grep -q "== max rate" $OUT/$NAME.console.txt 2>/dev/null; do sleep 0.5; done
sleep 20
ps -eo pid,args | grep -E " sink (ledger|reporting|notifications)" | grep -v grep > $OUT/$NAME.sinkpids.txt
while read -r pid args; do
  role=$(echo "$args" | grep -oE "(ledger|reporting|notifications|webhooks)" | head -1)
  /work/main/.venv/bin/py-spy record -p $pid -d 30 -r 50 -f raw -o $OUT/$NAME-sink-$role-$pid.pyspy.txt > /dev/null 2>&1 &
done < $OUT/$NAME.sinkpids.txt
wait
