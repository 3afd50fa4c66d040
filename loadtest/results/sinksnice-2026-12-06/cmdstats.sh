#!/bin/bash
# One bench run (300k at the max rate, then 60 s at 70%) with the account-state Redis's
# INFO commandstats and its process CPU (user / system) read at the fixed phase's start and end.
set -u
NAME=$1; OUT=${OUT:-/tmp/s61}
mkdir -p "$OUT"
cd /work/main
R="redis-cli -p 16379"
PID=$(cat .local/run/redis.pid)
snap() {
  { echo "== $1 $(date +%s.%N)"; awk '{print "cpu_user_ticks", $14; print "cpu_sys_ticks", $15}' /proc/$PID/stat
    $R info commandstats; $R info stats | grep -E 'total_commands|total_net'; } >> "$OUT/$NAME.cmdstats.txt"
}
(
  while ! grep -q "== fixed rate" "$OUT/$NAME.console.txt" 2>/dev/null; do sleep 0.2; done
  $R config resetstat > /dev/null
  snap start
  while ! grep -q "== reading the decisions" "$OUT/$NAME.console.txt" 2>/dev/null; do sleep 0.5; done
  snap end
) &
WATCH=$!
PAYSTREAM_MODELS_DIR=/tmp/models-45 .venv/bin/python -m loadtest.bench --transactions 300000 \
  --rate-s 60 --no-floor --name "$NAME" --out "$OUT" > "$OUT/$NAME.console.txt" 2>&1
echo "rc=$?" >> "$OUT/$NAME.console.txt"
wait $WATCH
echo done > "$OUT/$NAME.done"
