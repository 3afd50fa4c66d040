#!/bin/bash
# usage: chain2.sh NAME:COMMIT:EXTRA ... — runs one after the other
for spec in "$@"; do
  IFS=: read NAME C X <<< "$spec"
  EXTRA="$X" bash /tmp/pgprobe/run.sh $NAME $C > /tmp/pgprobe/$NAME.out 2>&1
done
echo done > /tmp/pgprobe/chain2.done
