#!/bin/bash
cd /work/main
for spec in h3=1ee16e2 n3=b2c78f3; do
  OUT=/tmp/night bash loadtest/results/fetch-wait-2026-12-06/run.sh ${spec%%=*} ${spec#*=}
done
echo all-done > /tmp/night/pairs2.done
