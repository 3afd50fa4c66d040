#!/bin/bash
NAME=$1
while ! grep -q "== max rate" /tmp/pgprobe/$NAME.console.txt 2>/dev/null; do sleep 0.5; done
sleep 2
for s in ledger reporting; do
  pid=$(pgrep -f "paystream sink $s" | head -1)
  /work/main/.venv/bin/py-spy record --pid $pid --duration 15 --rate 50 --nonblocking --format raw --output /tmp/pgprobe/$NAME-sink-$s.pyspy.txt > /dev/null 2>&1 &
done
wait
