#!/bin/bash
# The pair of 2026-12-06 night: main before (1ee16e2) and after (b2c78f3), A B B A.
cd /work/main
for spec in h1=1ee16e2 n1=b2c78f3 n2=b2c78f3 h2=1ee16e2; do
  OUT=/tmp/night bash loadtest/results/fetch-wait-2026-12-06/run.sh ${spec%%=*} ${spec#*=}
done
echo all-done > /tmp/night/pairs.done
