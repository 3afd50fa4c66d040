cd /work/main
OUT=/tmp/s58 TX=1000000 RATE_S=60 bash loadtest/results/pack-2026-12-04/run.sh pb1 e5c63a2
OUT=/tmp/s58 TX=1000000 RATE_S=60 bash loadtest/results/pack-2026-12-04/run.sh pa1 bd2ebb9
echo done > /tmp/s58/bench2.done
