# goal 4 at the steady traffic: the baseline worker (e6897cf) against now, both on e6897cf's traffic,
# 200k measured after 400k, alternated. usage: g4.sh [OUT] (default /tmp/s57)
OUT=${1:-/work/main/loadtest/results/closeout-2026-12-08/g4}; mkdir -p "$OUT"
cd /work/main
[ -d /tmp/wt-base ] || git worktree add -f /tmp/wt-base e6897cf -q --detach
ln -sfn /work/main/.local /tmp/wt-base/.local
for i in 1 2; do
  PAYSTREAM_MODELS_DIR=/tmp/models-base timeout 900 .venv/bin/python -m loadtest.worker_bench --transactions 200000 --after 400000 --repo /tmp/wt-base --traffic-repo /tmp/wt-base > $OUT/g4-base-$i.json 2>$OUT/g4-base-$i.err; echo "base $i rc=$?" >> $OUT/g4.log
  PAYSTREAM_MODELS_DIR=/tmp/models-45 timeout 900 .venv/bin/python -m loadtest.worker_bench --transactions 200000 --after 400000 --traffic-repo /tmp/wt-base > $OUT/g4-now-$i.json 2>$OUT/g4-now-$i.err; echo "now $i rc=$?" >> $OUT/g4.log
done
git worktree remove --force /tmp/wt-base
echo done >> $OUT/g4.log
