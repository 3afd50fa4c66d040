#!/bin/bash
cd /work/main
for spec in "w1-1:" "w0-1:--warmup-transactions 0"; do
  NAME=${spec%%:*}; EXTRA=${spec#*:}
  make down > /tmp/pgprobe/$NAME.down.txt 2>&1; make up > /tmp/pgprobe/$NAME.up.txt 2>&1
  EXTRA="$EXTRA" bash /tmp/pgprobe/run.sh $NAME HEAD
done
echo done > /tmp/pgprobe/chain-warm.done
