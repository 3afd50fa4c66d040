#!/usr/bin/env bash
# The fraud model on held-out traffic: a seed never trained on (99), through Kafka and two
# workers at a steady rate, then `paystream evaluate --compare`: the stream's detection figures
# next to an offline replay of the same traffic, and their differences.
# Why a steady rate: generated traffic compresses days into minutes, so a backlog drained
# unevenly across partitions shows the cross-partition fan-in feature payments out of event-time
# order; at 500/s the workers keep up and the stream sees what the replay sees.
set -euo pipefail
cd "$(dirname "$0")/../.."
PAYSTREAM=${PAYSTREAM:-.venv/bin/paystream}
COUNT=${EVAL_COUNT:-100000}
RATE=${EVAL_RATE:-500}
SEED=${EVAL_SEED:-99}
export PAYSTREAM_TOPIC_PREFIX=${PAYSTREAM_TOPIC_PREFIX:-eval-$(date +%Y%m%d-%H%M%S).}
LOGS=.local/eval/${PAYSTREAM_TOPIC_PREFIX%.}
mkdir -p "$LOGS"
source deploy/local/workers.sh

ensure_model
echo "== topics (prefix $PAYSTREAM_TOPIC_PREFIX), two workers (logs in $LOGS)"
$PAYSTREAM topics create > /dev/null
start_workers 2
echo "== publishing $COUNT transactions of seed $SEED at $RATE/s (2% labelled fraud)"
$PAYSTREAM produce --count "$COUNT" --rate "$RATE" --seed "$SEED" --fraud-share 0.02 \
  --labels-out "$LOGS/labels.csv" --json > "$LOGS/produce.json"
echo "== reconciling"
$PAYSTREAM reconcile --wait-s 600 > "$LOGS/reconcile.json" || { cat "$LOGS/reconcile.json"; exit 1; }
echo "== stream vs offline (also in $LOGS/compare.json)"
$PAYSTREAM evaluate --labels "$LOGS/labels.csv" --compare --table --json-out "$LOGS/compare.json"
