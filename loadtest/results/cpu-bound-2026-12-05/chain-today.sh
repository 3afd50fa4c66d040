#!/bin/bash
while [ ! -f /tmp/pgprobe/c2-1.done ]; do sleep 2; done
bash /tmp/pgprobe/base.sh base-6 > /tmp/pgprobe/base-6.out 2>&1
bash /tmp/pgprobe/jitrun.sh c2-2 90833a1 > /tmp/pgprobe/c2-2.out 2>&1
echo done > /tmp/pgprobe/chain-today.done
