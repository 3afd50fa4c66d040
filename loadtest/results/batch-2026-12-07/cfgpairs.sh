#!/bin/bash
# usage: cfgpairs.sh OUT ROUNDS "CONFIG A" "CONFIG B": one worker draining a backlog alone
# (loadtest/worker_bench, 300k measured after 300k), this checkout's code, the stack's Redis set
# to A's then B's settings (CONFIG SET, before each run) alternated, A first; A's at the end.
# A setting is "name value [name value...]".
OUT=$1; N=$2; A=$3; B=$4
mkdir -p "$OUT"
eval "$(deploy/local/stack.sh env)"
for i in $(seq 1 "$N"); do
  for side in a b; do
    if [ "$side" = a ]; then cfg=$A; else cfg=$B; fi
    # shellcheck disable=SC2086
    redis-cli -p 16379 CONFIG SET $cfg > /dev/null
    PAYSTREAM_MODELS_DIR=/tmp/models-45 .venv/bin/python -m loadtest.worker_bench \
      --transactions 300000 --after 300000 > "$OUT/wb-$side-$i.json" 2> "$OUT/wb-$side-$i.err"
  done
done
# shellcheck disable=SC2086
redis-cli -p 16379 CONFIG SET $A > /dev/null
echo "done" > "$OUT/done"
