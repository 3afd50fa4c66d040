#!/bin/bash
# /tmp/pgprobe/run.sh was loadtest/results/pack-2026-12-04/run.sh; base.sh is beside this file.
bash /tmp/pgprobe/run.sh w2-3 5b17cc1 > /tmp/pgprobe/w2-3.out 2>&1
bash /tmp/pgprobe/base.sh base-2 > /tmp/pgprobe/base-2.out 2>&1
bash /tmp/pgprobe/run.sh w2-4 5b17cc1 > /tmp/pgprobe/w2-4.out 2>&1
echo done > /tmp/pgprobe/chain3.done
