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

source deploy/local/workers.sh
# The stack's addresses, and PAYSTREAM_METRICS_TARGETS_DIR: every process below registers its
# metrics port with the stack's Prometheus.
eval "$(deploy/local/stack.sh env)"

ensure_model
echo "== topics (prefix $PAYSTREAM_TOPIC_PREFIX)"
$PAYSTREAM topics create
echo "== two workers, the sinks, webhook delivery and a sample partner (logs in $LOGS)"
export PAYSTREAM_DB_SCHEMA=${PAYSTREAM_DB_SCHEMA:-$(echo "${PAYSTREAM_TOPIC_PREFIX%.}" | tr -c 'a-z0-9\n' _)}
export PARTNER_WEBHOOK_SECRET=demo-only-secret   # shared by the demo's sender and receiver
API_PORT=${DEMO_API_PORT:-18000}
PARTNER_PORT=${DEMO_PARTNER_PORT:-18090}
PAYOUTS=${DEMO_PAYOUTS:-300}
# demo: a merchant-facing partner; mpesa-ke: a receive partner paying out (simulated);
# wallet-fr: the send partner told how each payout ended (docs/send-money.md)
cat > "$LOGS/partners.toml" <<TOML
[partners.demo]
url = "http://127.0.0.1:${DEMO_RECEIVER_PORT:-18080}/hooks"
secret_env = "PARTNER_WEBHOOK_SECRET"
kinds = ["DEBIT", "CREDIT_RECEIVED", "DECLINED", "UNDER_REVIEW"]
[partners.mpesa-ke]
url = "http://127.0.0.1:$PARTNER_PORT/payouts"
secret_env = "PARTNER_WEBHOOK_SECRET"
kinds = ["PAYOUT_INSTRUCTION"]
[partners.wallet-fr]
url = "http://127.0.0.1:${DEMO_RECEIVER_PORT:-18080}/hooks"
secret_env = "PARTNER_WEBHOOK_SECRET"
kinds = ["PAYOUT_RESULT"]
TOML
export PAYSTREAM_PARTNERS_PATH=$LOGS/partners.toml
# two payouts per sender: more within a minute would trip the velocity rule (a payout it doubts
# is declined: payout:review)
.venv/bin/python -m loadtest.payouts --count "$PAYOUTS" --senders $(( (PAYOUTS + 1) / 2 )) --out "$LOGS/payouts"
export PAYSTREAM_QUOTES_PATH=$LOGS/payouts/quotes.toml
$PAYSTREAM db migrate
start_workers 2
start_process sinks sink all
start_process receiver webhook-receiver --port "${DEMO_RECEIVER_PORT:-18080}"
start_process notify notify
start_process api api --port "$API_PORT"
start_process partner partner-sim --port "$PARTNER_PORT" --api-url "http://127.0.0.1:$API_PORT"
echo "== publishing $COUNT generated transactions (seed 99, never trained on; 2% labelled fraud)"
$PAYSTREAM produce --count "$COUNT" --seed 99 --fraud-share 0.02 --labels-out "$LOGS/labels.csv"
echo "== waiting for workers and sinks, then reconciling topics, balances, ledger, reports, notifications"
$PAYSTREAM reconcile --sinks --wait-s 600 | tee "$LOGS/reconcile.json"
echo "== the ledger's hash chains and balances"
$PAYSTREAM ledger verify
echo "== what the sample partner received (signatures verified)"
curl -s "http://127.0.0.1:${DEMO_RECEIVER_PORT:-18080}/stats"; echo
echo "== reporting: decisions by outcome (SQL on schema $PAYSTREAM_DB_SCHEMA)"
psql "${DATABASE_URL:-postgresql://paystream@127.0.0.1:15432/paystream}" -c "SELECT outcome, sum(tx_count) AS transactions, sum(amount_sum) AS amount
  FROM $PAYSTREAM_DB_SCHEMA.report_rollup_hour GROUP BY outcome ORDER BY outcome" 2>/dev/null \
  || echo "(psql not on PATH: the tables are in schema $PAYSTREAM_DB_SCHEMA)"
echo "== the analysts' API and console: http://127.0.0.1:$API_PORT/ (docs: /docs)"
KEY=$($PAYSTREAM api keys create --role reviewer --name "demo reviewer" 2>/dev/null | tail -n1)
api_get() { curl -s --fail-with-body -H "Authorization: Bearer $KEY" "http://127.0.0.1:$API_PORT$1"; echo; }
FROM=$(date -u -d '-30 days' +%Y-%m-%dT%H:%M:%SZ); TO=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
echo "-- held for review (first 2 of the queue):"
api_get "/v1/reviews?limit=2"
echo "-- decisions by outcome, per day (from the rollups):"
REPORT=$(api_get "/v1/reports/decisions?bucket=day&from=$FROM&to=$TO")
echo "${REPORT:0:1200}..."
echo "   a reviewer key for the console (this demo's schema; the API stops with the demo):"
echo "   $KEY"
echo "   browse later: PAYSTREAM_DB_SCHEMA=$PAYSTREAM_DB_SCHEMA PAYSTREAM_TOPIC_PREFIX=$PAYSTREAM_TOPIC_PREFIX $PAYSTREAM api"
echo "== fraud labels come back: a chargeback for each fraud of the traffic (paystream label)"
# tx_id,is_fraud only: reported now (the labels file's reported_at is a day after each payment)
awk -F, -v OFS=, 'NR == 1 || $2 == 1 {print $1, $2}' "$LOGS/labels.csv" > "$LOGS/chargebacks.csv"
$PAYSTREAM label --input "$LOGS/chargebacks.csv"
$PAYSTREAM reconcile --sinks --wait-s 120 >/dev/null   # returns once the labels sink has them all
psql "${DATABASE_URL:-postgresql://paystream@127.0.0.1:15432/paystream}" -c "SELECT source,
  count(*) AS labels, count(*) FILTER (WHERE applied) AS feeding_the_features
  FROM $PAYSTREAM_DB_SCHEMA.labels GROUP BY source" 2>/dev/null \
  || echo "(psql not on PATH: the labels are in $PAYSTREAM_DB_SCHEMA.labels)"
echo "   (each now counts in its destination's and payer's label-risk features for later payments)"
echo "== what each worker did (totals of its stats lines)"
for n in 1 2; do
  grep -o "last 5s: .*" "$LOGS/worker-$n.log" | sed 's/last 5s: //' | tr ',' '\n' \
    | grep -v "ms:" | awk -F= -v w="worker $n:" '{gsub(/ /, "", $1); t[$1] += $2}
        END {printf "%s", w; for (k in t) printf " %s=%d", k, t[k]; print ""}'
done
echo "== Prometheus ($PROMETHEUS_URL), scraping every process above: peak decisions/s by outcome"
PROMQL='max_over_time((sum by (outcome) (rate(paystream_worker_transactions_total[10s])))[10m:2s])'
echo "   $PROMQL"
curl -s --get --data-urlencode "query=$PROMQL" "$PROMETHEUS_URL/api/v1/query" | python3 -c '
import json, sys
answer = json.load(sys.stdin)
rows = answer.get("data", {}).get("result", [])
for row in sorted(rows, key=lambda r: r["metric"].get("outcome", "")):
    print("   %-8s %10.0f decisions/s" % (row["metric"].get("outcome", "?"), float(row["value"][1])))
if not rows:
    print("   (no samples: %s)" % (answer.get("error") or "the workers were not scraped"))
' || echo "   (Prometheus did not answer at $PROMETHEUS_URL)"
echo "   dashboard: deploy/grafana/paystream.json; metrics of each process: docs/operations.md"
echo "== partner payouts: $PAYOUTS through a simulated receive partner that answers late, fails 20%,"
echo "   repeats 10%, contradicts itself 5% and never answers 2% (docs/send-money.md)"
$PAYSTREAM produce --input "$LOGS/payouts/payouts.jsonl" > "$LOGS/produce-payouts.log" 2>&1
last=-1; steady=0
for _ in $(seq 1 180); do  # until the partner has answered all it got and no new instruction came for 5 s
  STATS=$(curl -s "http://127.0.0.1:$PARTNER_PORT/stats" || echo '{}')
  got=$(python3 -c 'import json,sys; s=json.loads(sys.argv[1]); print(s.get("instructions", 0) if s.get("in_flight", 1) == 0 else -1)' "$STATS")
  if [ "$got" -gt 0 ] && [ "$got" = "$last" ]; then steady=$((steady + 1)); else steady=0; fi
  last=$got
  [ "$steady" -ge 5 ] && break
  sleep 1
done
psql "${DATABASE_URL:-postgresql://paystream@127.0.0.1:15432/paystream}" -c "SELECT outcome, reasons[1] AS reason,
  count(*) AS payouts FROM $PAYSTREAM_DB_SCHEMA.report_transactions WHERE type = 'PAYOUT' GROUP BY 1, 2
  ORDER BY 3 DESC" 2>/dev/null || echo "(psql not on PATH: decisions in $PAYSTREAM_DB_SCHEMA.report_transactions)"
$PAYSTREAM reconcile --sinks --wait-s 120 > "$LOGS/reconcile-payouts.json" || true
python3 - "$LOGS/reconcile-payouts.json" "$STATS" "$(curl -s "http://127.0.0.1:${DEMO_RECEIVER_PORT:-18080}/stats")" <<'PY'
import json, sys
summary, partner, told = json.load(open(sys.argv[1])), json.loads(sys.argv[2]), json.loads(sys.argv[3])
ended = {k[len("payouts_"):]: v for k, v in summary.items() if k.startswith("payouts_")}
print("   how they ended (reconcile):", ", ".join(f"{k} {v}" for k, v in sorted(ended.items())) or "none yet")
print("   (held: never answered, released when the deadline passes: payout_deadline_s, 1 h by default)")
print("   the partner:", ", ".join(f"{k} {v}" for k, v in sorted(partner.items())))
print("   the send partner was told", told.get("PAYOUT_RESULT", 0), "endings; reconcile",
      "passed" if summary.get("ok") else f"found problems: {summary.get('problems')}")
PY
echo "== a few decisions"
$PAYSTREAM peek decisions --max 3
echo "== fraud detection against the generator's labels: the stream's decisions vs an offline replay"
echo "   (the traffic went in as one burst: partitions drained at different event times, which"
echo '    moves the cross-partition fan-in feature a little; "make evaluate" runs at a steady rate)'
$PAYSTREAM evaluate --labels "$LOGS/labels.csv" --compare --table --json-out "$LOGS/compare.json"
