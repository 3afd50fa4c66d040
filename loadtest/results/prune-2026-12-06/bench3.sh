cd /work/main
while ! grep -q done /tmp/s58/g4.log 2>/dev/null; do sleep 5; done
OUT=/tmp/s58 TX=1000000 RATE_S=60 bash loadtest/results/pack-2026-12-04/run.sh pa2 bd2ebb9
OUT=/tmp/s58 TX=1000000 RATE_S=60 bash loadtest/results/pack-2026-12-04/run.sh pb2 e5c63a2
echo done > /tmp/s58/bench3.done
