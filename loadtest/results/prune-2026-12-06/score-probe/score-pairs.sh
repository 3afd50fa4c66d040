cd /work/main
for i in 1 2 3; do
  PAYSTREAM_MODELS_DIR=/tmp/models-45 timeout 900 .venv/bin/python -m loadtest.worker_bench --transactions 200000 --after 400000 --repo /tmp/wt-bd > /tmp/s58/sc-before-$i.json 2>/tmp/s58/sc-before-$i.err; echo "before $i rc=$?" >> /tmp/s58/sc.log
  PAYSTREAM_MODELS_DIR=/tmp/models-45 timeout 900 .venv/bin/python -m loadtest.worker_bench --transactions 200000 --after 400000 > /tmp/s58/sc-after-$i.json 2>/tmp/s58/sc-after-$i.err; echo "after $i rc=$?" >> /tmp/s58/sc.log
done
echo done >> /tmp/s58/sc.log
