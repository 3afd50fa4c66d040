#!/usr/bin/env bash
# One bounded Locust scenario against the whole local pipeline: two workers and the sinks under a
# fresh topic prefix, Locust headless for RUN_S seconds, CSV and HTML report in loadtest/results/.
# Usage: SCENARIO=steady RUN_S=60 deploy/local/loadtest.sh   (make loadtest SCENARIO=...)
set -euo pipefail
cd "$(dirname "$0")/../.."
PAYSTREAM=${PAYSTREAM:-.venv/bin/paystream}
SCENARIO=${SCENARIO:-steady}
RUN_S=${RUN_S:-60}
export PAYSTREAM_TOPIC_PREFIX=${PAYSTREAM_TOPIC_PREFIX:-lt-$SCENARIO-$(date +%Y%m%d-%H%M%S).}
export PAYSTREAM_DB_SCHEMA=${PAYSTREAM_DB_SCHEMA:-$(echo "${PAYSTREAM_TOPIC_PREFIX%.}" | tr -c 'a-z0-9\n' _)}
LOGS=.local/loadtest/${PAYSTREAM_TOPIC_PREFIX%.}
OUT=loadtest/results/$SCENARIO
mkdir -p "$LOGS" loadtest/results
source deploy/local/workers.sh

ensure_model
$PAYSTREAM topics create > /dev/null
$PAYSTREAM db migrate > /dev/null
start_workers 2
start_process sinks sink all
sleep 8   # the workers join and get their partitions
echo "== locust, scenario $SCENARIO, ${RUN_S}s (logs in $LOGS, report $OUT.html)"
.venv/bin/locust -f loadtest/locustfile.py --headless --scenario "$SCENARIO" --run-s "$RUN_S" \
  --csv "$OUT" --html "$OUT.html" --only-summary ${LOCUST_ARGS:-} || true
echo "== reconcile (pipeline and sinks)"
$PAYSTREAM reconcile --sinks --wait-s 300 > "$LOGS/reconcile.json" && echo "reconcile: ok" \
  || { echo "reconcile: FAILED (see $LOGS/reconcile.json)"; exit 1; }
