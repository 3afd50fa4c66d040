#!/usr/bin/env bash
# The fraud model on held-out traffic: a seed never trained on (99), through Kafka and two
# workers at a steady rate, then `paystream evaluate --compare`: the stream's detection figures
# next to an offline replay of the same traffic, and their differences.
# The loop of confirmed fraud runs too: each fraud's chargeback is published once the traffic's
# clock is a day past it (produce --publish-labels), the reporting and labels sinks put it in the
# label-risk sets, and the workers' features see it for later payments (a compromised terminal).
# Why a steady rate: generated traffic compresses days into minutes, so a backlog drained
# unevenly across partitions shows the cross-partition fan-in feature payments out of event-time
# order; at 500/s the workers keep up and the stream sees what the replay sees.
set -euo pipefail
cd "$(dirname "$0")/../.."
PAYSTREAM=${PAYSTREAM:-.venv/bin/paystream}
COUNT=${EVAL_COUNT:-100000}
RATE=${EVAL_RATE:-500}
SEED=${EVAL_SEED:-99}
LABEL_DELAY_DAYS=${EVAL_LABEL_DELAY_DAYS:-1}
export PAYSTREAM_TOPIC_PREFIX=${PAYSTREAM_TOPIC_PREFIX:-eval-$(date +%Y%m%d-%H%M%S).}
LOGS=.local/eval/${PAYSTREAM_TOPIC_PREFIX%.}
mkdir -p "$LOGS"
source deploy/local/workers.sh

ensure_model
echo "== topics (prefix $PAYSTREAM_TOPIC_PREFIX), two workers, the reporting and labels sinks (logs in $LOGS)"
export PAYSTREAM_DB_SCHEMA=${PAYSTREAM_DB_SCHEMA:-$(echo "${PAYSTREAM_TOPIC_PREFIX%.}" | tr -c 'a-z0-9\n' _)}
$PAYSTREAM topics create > /dev/null
$PAYSTREAM db migrate > "$LOGS/migrate.log" 2>&1 || { cat "$LOGS/migrate.log"; exit 1; }
start_workers 2
start_process sink-reporting sink reporting
start_process sink-labels sink labels
echo "== publishing $COUNT transactions of seed $SEED at $RATE/s (2% labelled fraud), each fraud's"
echo "   chargeback $LABEL_DELAY_DAYS day(s) of traffic time after it"
$PAYSTREAM produce --count "$COUNT" --rate "$RATE" --seed "$SEED" --fraud-share 0.02 \
  --labels-out "$LOGS/labels.csv" --label-delay-days "$LABEL_DELAY_DAYS" --publish-labels \
  --json > "$LOGS/produce.json"
echo "   $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["labels_published"])' "$LOGS/produce.json") chargebacks published"
echo "== reconciling"
$PAYSTREAM reconcile --wait-s 600 > "$LOGS/reconcile.json" || { cat "$LOGS/reconcile.json"; exit 1; }
echo "== stream vs offline (also in $LOGS/compare.json)"
$PAYSTREAM evaluate --labels "$LOGS/labels.csv" --compare --table --json-out "$LOGS/compare.json"
