#!/usr/bin/env bash
# The demo: generated traffic through two workers on the local stack, then the proof.
# Called by `make demo` after `make up`; stops the workers it started (by PID) on any exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
PAYSTREAM=${PAYSTREAM:-.venv/bin/paystream}
COUNT=${DEMO_COUNT:-100000}
export PAYSTREAM_TOPIC_PREFIX=${PAYSTREAM_TOPIC_PREFIX:-demo-$(date +%Y%m%d-%H%M%S).}
LOGS=.local/demo/${PAYSTREAM_TOPIC_PREFIX%.}
mkdir -p "$LOGS"

pids=()
stop_workers() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_workers EXIT

echo "== topics (prefix $PAYSTREAM_TOPIC_PREFIX)"
$PAYSTREAM topics create
echo "== two workers (logs in $LOGS)"
for n in 1 2; do
  $PAYSTREAM worker --stats-every-s 5 > "$LOGS/worker-$n.log" 2>&1 &
  pids+=($!)
done
echo "== publishing $COUNT generated transactions (2% labelled fraud)"
$PAYSTREAM produce --count "$COUNT" --seed 1 --fraud-share 0.02 --labels-out "$LOGS/labels.csv"
echo "== waiting for the workers, then reconciling topics against balances"
$PAYSTREAM reconcile --wait-s 600 | tee "$LOGS/reconcile.json"
echo "== what each worker did (totals of its stats lines)"
for n in 1 2; do
  grep -o "last 5s: .*" "$LOGS/worker-$n.log" | sed 's/last 5s: //' | tr ',' '\n' \
    | awk -F= -v w="worker $n:" '{gsub(/ /, "", $1); t[$1] += $2}
        END {printf "%s", w; for (k in t) printf " %s=%d", k, t[k]; print ""}'
done
echo "== a few decisions"
$PAYSTREAM peek decisions --max 3
echo "== fraud labels of the traffic (the model that uses them comes with the fraud issue)"
cut -d, -f3 "$LOGS/labels.csv" | tail -n +2 | sort | uniq -c | sort -rn
