cd /work/main
for i in 1 2; do
  PAYSTREAM_MODELS_DIR=/tmp/models-45 timeout 900 .venv/bin/python /tmp/s58/keys.py --transactions 200000 --after 400000 --repo /tmp/wt-head > /tmp/s58/pr-before-$i.json 2>/tmp/s58/pr-before-$i.err; echo "before $i rc=$?" >> /tmp/s58/pr.log
  PAYSTREAM_MODELS_DIR=/tmp/models-45 timeout 900 .venv/bin/python /tmp/s58/keys.py --transactions 200000 --after 400000 > /tmp/s58/pr-after-$i.json 2>/tmp/s58/pr-after-$i.err; echo "after $i rc=$?" >> /tmp/s58/pr.log
done
echo done >> /tmp/s58/pr.log
