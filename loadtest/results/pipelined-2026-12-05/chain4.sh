#!/bin/bash
# base-3 (e6897cf) then r2-1 (65e5c53, the final code) adjacent
bash /tmp/pgprobe/base.sh base-3 > /tmp/pgprobe/base-3.out 2>&1
bash /tmp/pgprobe/run.sh r2-1 65e5c53 > /tmp/pgprobe/r2-1.out 2>&1
echo done > /tmp/pgprobe/chain4.done
