#!/bin/bash
# usage: chain.sh NAME:COMMIT ... — runs them one after another
for pair in "$@"; do
  /tmp/pgprobe/run.sh ${pair%%:*} ${pair##*:} > /tmp/pgprobe/${pair%%:*}.log 2>&1
done
echo chain-done > /tmp/pgprobe/chain.done
