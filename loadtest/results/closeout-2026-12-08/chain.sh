#!/bin/bash
# The whole bench, one run per STEPS entry ("name:commit ..."), one at a time, each with
# PostgreSQL's processes watched (features-2026-12-07/pgrun.sh). PERF=1: perf samples the
# account-state redis-server for 30 s of each max-rate phase, 20 s after it starts (NAME.redis.perf.txt).
D=/work/main/loadtest/results/closeout-2026-12-08
for step in ${STEPS:?STEPS=\"w0:COMMIT a1:COMMIT ...\"}; do
  name=${step%%:*}
  if [ "${PERF:-0}" = 1 ]; then
    (
      while ! grep -q "== max rate" $D/$name.console.txt 2>/dev/null; do sleep 0.2; done
      sleep 20
      perf record -F 499 -g -o /tmp/$name.redis.perf.data -p "$(cat /work/main/.local/run/redis.pid)" -- sleep 30 > /dev/null 2>&1
      perf report -i /tmp/$name.redis.perf.data --no-children --sort symbol --stdio 2>/dev/null | grep -v "^$" | head -120 > $D/$name.redis.perf.txt
    ) &
  fi
  OUT=$D bash $D/../features-2026-12-07/pgrun.sh "$name" "${step##*:}"
  wait
done
echo done > $D/chain.done
