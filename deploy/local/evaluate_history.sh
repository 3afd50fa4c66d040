#!/usr/bin/env bash
# The fraud loop on data from outside paystream's generator (loadtest/othersim.py: cards and
# terminals on a map, compromised terminals and cards, labels 7 days late), as an operator
# adopting paystream would run it on their own history:
#   train on the history, warm the workers' state up to the test period, publish the labels
#   (with their transactions' payer, destination and time), stream the test period through two
#   workers and the reporting and labels sinks, and score the decisions against the labels.
set -euo pipefail
cd "$(dirname "$0")/../.."
PAYSTREAM=${PAYSTREAM:-.venv/bin/paystream}
PY=${PY:-.venv/bin/python}
RATE=${EVAL_RATE:-1000}
# 0: leave the workers' state cold / send the labels without their transactions (to measure
# what each step brings)
WARM=${EVAL_WARM:-1}
LABEL_TRANSACTIONS=${EVAL_LABEL_TRANSACTIONS:-1}
export PAYSTREAM_TOPIC_PREFIX=${PAYSTREAM_TOPIC_PREFIX:-history-$(date +%Y%m%d-%H%M%S).}
LOGS=.local/eval/${PAYSTREAM_TOPIC_PREFIX%.}
mkdir -p "$LOGS"
export PAYSTREAM_MODELS_DIR=$LOGS/models   # its own models: the demo's stay as they are
export PAYSTREAM_DB_SCHEMA=${PAYSTREAM_DB_SCHEMA:-$(echo "${PAYSTREAM_TOPIC_PREFIX%.}" | tr -c 'a-z0-9\n' _)}
source deploy/local/workers.sh

echo "== history from another simulator (python -m loadtest.othersim; files in $LOGS)"
$PY -m loadtest.othersim --out "$LOGS"
echo "== paystream train --transactions --labels (labels 7 days late)"
$PAYSTREAM train --transactions "$LOGS/transactions.jsonl" --labels "$LOGS/labels.csv" \
  --delay-days 7 > "$LOGS/train.json"
TEST_FROM=$($PY -c 'import json,sys,pathlib; m=next(pathlib.Path(sys.argv[1]).glob("fraud-v*/manifest.json")); print(json.loads(m.read_text())["training"]["test_from"])' "$PAYSTREAM_MODELS_DIR")
echo "   test period from $TEST_FROM"
$PY - "$LOGS" "$TEST_FROM" <<'PY'
import json, sys
from datetime import datetime
folder, since = sys.argv[1], datetime.fromisoformat(sys.argv[2].replace("Z", "+00:00"))
since_ms = int(since.timestamp() * 1000)
with open(f"{folder}/transactions.jsonl") as src, open(f"{folder}/test-period.jsonl", "w") as out:
    out.writelines(line for line in src if json.loads(line)["event_time"] >= since_ms)
PY
echo "== topics, schema, the workers' state warmed with the history before $TEST_FROM"
$PAYSTREAM topics create > /dev/null
$PAYSTREAM db migrate > "$LOGS/migrate.log" 2>&1 || { cat "$LOGS/migrate.log"; exit 1; }
if [ "$WARM" = 1 ]; then
  $PAYSTREAM warm --transactions "$LOGS/transactions.jsonl" --until "$TEST_FROM"
else
  echo "   (EVAL_WARM=0: not warmed)"
fi
echo "== two workers, the reporting and labels sinks (logs in $LOGS)"
start_workers 2
start_process sink-reporting sink reporting
start_process sink-labels sink labels
echo "== the labels, each with its transaction (paystream label --transactions)"
if [ "$LABEL_TRANSACTIONS" = 1 ]; then
  $PAYSTREAM label --input "$LOGS/labels.csv" --transactions "$LOGS/transactions.jsonl" --json \
    | tee "$LOGS/label.json"
else  # only labels of streamed transactions can be applied, once they are decided
  $PAYSTREAM label --input "$LOGS/labels.csv"
fi
[ "$LABEL_TRANSACTIONS" = 1 ] && $PY - "$LOGS/label.json" <<'PY'   # until the labels sink has applied them all (a few seconds)
import asyncio, json, sys, time
from sinks.db import connected
from streams.settings import load_settings

async def applied() -> tuple[int, int]:
    settings = load_settings()
    async with connected(settings.database_url, settings.db_schema) as db:
        row = await db.fetchrow("SELECT count(*) FILTER (WHERE applied), count(*) FROM labels")
        return row[0], row[1]

deadline = time.monotonic() + 120
sent = json.load(open(sys.argv[1]))["sent"]
while (counts := asyncio.run(applied()))[0] < sent:
    if time.monotonic() > deadline:
        raise SystemExit(f"the labels sink applied {counts[0]} of {sent} labels in 120 s")
    time.sleep(1)
print(f"   {counts[0]:,} labels in the label-risk sets")
PY
echo "== streaming the test period at $RATE/s"
$PAYSTREAM produce --input "$LOGS/test-period.jsonl" --rate "$RATE" --json > "$LOGS/produce.json"
$PAYSTREAM reconcile --wait-s 600 > "$LOGS/reconcile.json" || { cat "$LOGS/reconcile.json"; exit 1; }
echo "== the workers' decisions against the labels (also in $LOGS/evaluate.json)"
$PAYSTREAM evaluate --labels "$LOGS/labels.csv" --table --json-out "$LOGS/evaluate.json"
echo "== what training reported on the same test period (offline replay)"
$PY -c 'import json,sys; t=json.JSONDecoder().raw_decode(open(sys.argv[1]).read())[0]["test"]; print({k: t.get(k) for k in ("pr_auc", "roc_auc", "recall", "precision", "false_positive_rate")})' "$LOGS/train.json"
