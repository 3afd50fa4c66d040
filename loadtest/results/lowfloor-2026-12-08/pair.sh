#!/bin/bash
# The whole bench on one commit with the account-state Redis's heap on huge pages (on) or not
# (off), alternated: PAIRS="t1:on n1:off ..." (redis_thp.sh restarts Redis before each run).
D=/work/main/loadtest/results/lowfloor-2026-12-08
C=${COMMIT:?COMMIT=the commit to run}
for step in ${PAIRS:?PAIRS=\"t1:on n1:off ...\"}; do
  bash $D/redis_thp.sh "${step##*:}" >> $D/pair.log 2>&1
  grep AnonHugePages /proc/"$(cat /work/main/.local/run/redis.pid)"/smaps_rollup >> $D/pair.log
  STEPS="${step%%:*}:$C" bash $D/chain.sh
  echo "${step%%:*} after: $(grep AnonHugePages /proc/"$(cat /work/main/.local/run/redis.pid)"/smaps_rollup)" >> $D/pair.log
done
echo done > $D/pair.done
