#!/bin/bash
# controlled: rewrites triggered by hand in one fixed-rate phase, the sinks' and PostgreSQL's
# autogroup nice toggled between them (A = $NICE, B = 0), A B A B.
set -u
NAME=$1; NICE=${NICE:-5}; OUT=/tmp/s60
cd /work/main
R="redis-cli -p 16379"
PGP=$(cat .local/run/postgres.pid)
setnice() {
  echo $1 > /proc/$PGP/autogroup
  for p in $(pgrep -f "paystream sink "); do echo $1 > /proc/$p/autogroup 2>/dev/null; done
}
(
  while ! grep -q "== fixed rate" $OUT/$NAME.console.txt 2>/dev/null; do sleep 0.2; done
  $R config set auto-aof-rewrite-percentage 0 > /dev/null
  T0=$(date +%s.%N)
  echo "fixed_start $T0" > $OUT/$NAME.events.txt
  for i in 1 2 3 4; do
    if [ $((i % 2)) = 1 ]; then N=$NICE; else N=0; fi
    target=$(echo "$T0 + 35 * $i - 15" | bc)
    while [ "$(echo "$(date +%s.%N) < $target - 5" | bc)" = 1 ]; do sleep 0.2; done
    setnice $N
    while [ "$(echo "$(date +%s.%N) < $target" | bc)" = 1 ]; do sleep 0.1; done
    $R bgrewriteaof > /dev/null
    echo "rewrite $i nice $N $(date +%s.%N)" >> $OUT/$NAME.events.txt
  done
  sleep 20; setnice 0
  $R config set auto-aof-rewrite-percentage 400 > /dev/null
) &
cd /work/main && PAYSTREAM_MODELS_DIR=/tmp/models-45 .venv/bin/python -m loadtest.bench --transactions 1000000 --rate-s 150 --no-floor --name $NAME --out $OUT > $OUT/$NAME.console.txt 2>&1
echo "rc=$?" >> $OUT/$NAME.console.txt
wait
setnice 0
$R config set auto-aof-rewrite-percentage 400 > /dev/null
echo done > $OUT/$NAME.done
