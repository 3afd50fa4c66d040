#!/bin/bash
# Runs the sink-outage test (redis-notify) at --batch-size 16,000 until it fails or N runs.
cd /tmp/wt-stress
for i in $(seq 1 ${N:-12}); do
  echo "run $i $(date +%T)" >> /tmp/stress/loop.log
  /work/main/.venv/bin/python -m pytest -q -x "tests/e2e/test_sink_outage.py::test_a_sink_store_outage_stalls_only_that_sink[redis-notify]" -p no:cacheprovider > /tmp/stress/loop-$i.log 2>&1
  rc=$?
  echo "run $i rc=$rc $(date +%T) $(tail -1 /tmp/stress/loop-$i.log)" >> /tmp/stress/loop.log
  [ $rc -ne 0 ] && break
done
echo done >> /tmp/stress/loop.log
