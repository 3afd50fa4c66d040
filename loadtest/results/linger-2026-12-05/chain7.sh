#!/bin/bash
# base-5 (e6897cf) then f2-1 (a908c69, the final code: 10e1c72's agents) adjacent; then goal 5.
bash /tmp/pgprobe/base.sh base-5 > /tmp/pgprobe/base-5.out 2>&1
bash /tmp/pgprobe/run.sh f2-1 a908c69 > /tmp/pgprobe/f2-1.out 2>&1
cd /work/main && PAYSTREAM_MODELS_DIR=/tmp/models-45 .venv/bin/python -m loadtest.sink_bench --transactions 100000 > /tmp/pgprobe/sink-bench.txt 2>&1
echo done > /tmp/pgprobe/chain7.done
