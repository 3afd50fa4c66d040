#!/bin/bash
# Controlled pairs inside one run: the account-state Redis's AOF rewrite child moved into an idle
# cpu cgroup (A: forkidle.py, flag 1) or left in Redis's autogroup (B: flag 0), toggled across six
# hand-started rewrites, in the order A B B A A B; nothing else changed (a copy of
# sinksnice-2026-12-06/exp.sh with this knob). 1M at the max rate, then a fixed phase of 230 s at
# 70% of it.
set -u
NAME=$1; NICE=1; OUT=${OUT:-/tmp/s62}; TARGET=idle
mkdir -p "$OUT"
cd /work/main
R="redis-cli -p 16379"
HERE=$(dirname "$(readlink -f "$0")")
setnice() { echo "$1" > "$OUT/$NAME.flag"; }
python3 "$HERE/forkidle.py" "$OUT/$NAME.flag" "$OUT/$NAME.moves.txt" &
SAMPLER=$!
(
  while ! grep -q "== fixed rate" "$OUT/$NAME.console.txt" 2>/dev/null; do sleep 0.2; done
  $R config set auto-aof-rewrite-percentage 0 > /dev/null
  T0=$(date +%s.%N)
  echo "fixed_start $T0" > "$OUT/$NAME.events.txt"
  i=0
  for N in $NICE 0 0 $NICE $NICE 0; do
    i=$((i + 1))
    target=$(echo "$T0 + 35 * $i - 15" | bc)
    while [ "$(echo "$(date +%s.%N) < $target - 5" | bc)" = 1 ]; do sleep 0.2; done
    setnice "$N"
    while [ "$(echo "$(date +%s.%N) < $target" | bc)" = 1 ]; do sleep 0.1; done
    $R bgrewriteaof > /dev/null
    echo "rewrite $i nice $N $(date +%s.%N)" >> "$OUT/$NAME.events.txt"
  done
  sleep 20; setnice 0
  $R config set auto-aof-rewrite-percentage 400 > /dev/null
) &
WATCH=$!
PAYSTREAM_MODELS_DIR=/tmp/models-45 .venv/bin/python -m loadtest.bench --transactions 1000000 \
  --rate-s 230 --no-floor --name "$NAME" --out "$OUT" > "$OUT/$NAME.console.txt" 2>&1
echo "rc=$?" >> "$OUT/$NAME.console.txt"
wait $WATCH
$R config set auto-aof-rewrite-percentage 400 > /dev/null
kill $SAMPLER
echo done > "$OUT/$NAME.done"
