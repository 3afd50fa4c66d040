#!/bin/bash
# Controlled pairs inside one run: an autogroup nice toggled across six hand-started AOF rewrites
# of the account-state Redis (A = $NICE, B = 0, in the order A B B A A B), nothing else changed.
# TARGET=sinks: the sink processes' autogroups; TARGET=redis: the account-state Redis's; TARGET=none:
# nothing toggled (a knob set for the whole run, e.g. by the environment); TARGET=fork: the Redis
# main thread's nice, below 0 with SCHED_RESET_ON_FORK (forkprio.py).
# 1M at the max rate, then a fixed phase of 230 s at 70% of it; sampler.py meanwhile.
set -u
NAME=$1; NICE=${NICE:-5}; OUT=${OUT:-/tmp/s61}; TARGET=${TARGET:-sinks}
mkdir -p "$OUT"
cd /work/main
R="redis-cli -p 16379"
HERE=$(dirname "$(readlink -f "$0")")
setnice() {
  if [ "$TARGET" = none ]; then return; fi
  if [ "$TARGET" = fork ]; then python3 "$HERE/forkprio.py" "$1" > /dev/null; return; fi
  if [ "$TARGET" = redis ]; then echo "$1" > /proc/$(cat .local/run/redis.pid)/autogroup; return; fi
  for p in $(pgrep -f "paystream sink "); do echo "$1" > /proc/$p/autogroup 2>/dev/null; done
}
python3 "$HERE/sampler.py" "$OUT/$NAME.samples.txt" &
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
gzip -f "$OUT/$NAME.samples.txt"
echo done > "$OUT/$NAME.done"
