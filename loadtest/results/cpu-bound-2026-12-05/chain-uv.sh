#!/bin/bash
bash /tmp/pgprobe/sinkspy.sh u3-1 &
bash /tmp/pgprobe/jitrun.sh u3-1 333da437e42e591fa6f0037addbedb91dee69baa > /tmp/pgprobe/u3-1.out 2>&1
bash /tmp/pgprobe/jitrun.sh c2-3 90833a1 > /tmp/pgprobe/c2-3.out 2>&1
bash /tmp/pgprobe/jitrun.sh u3-2 333da437e42e591fa6f0037addbedb91dee69baa > /tmp/pgprobe/u3-2.out 2>&1
echo done > /tmp/pgprobe/chain-uv.done
