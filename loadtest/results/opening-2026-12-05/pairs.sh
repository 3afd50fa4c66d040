cd /work/main
for i in 1 2; do
  for a in 0 400000; do
    PAYSTREAM_MODELS_DIR=/tmp/models-45 timeout 900 .venv/bin/python -m loadtest.worker_bench --transactions 200000 --after $a --stats-every-s 2 > /tmp/s57/e-after$a-$i.json 2>/tmp/s57/e-after$a-$i.err
    echo "after=$a i=$i rc=$?" >> /tmp/s57/pairs.log
  done
done
for a in 0 400000; do
  PAYSTREAM_MODELS_DIR=/tmp/models-45 timeout 900 .venv/bin/python -m loadtest.worker_bench --transactions 200000 --after $a --accounts 10000 --stats-every-s 2 > /tmp/s57/e10k-after$a.json 2>/tmp/s57/e10k-after$a.err
  echo "acc10k after=$a rc=$?" >> /tmp/s57/pairs.log
done
echo done >> /tmp/s57/pairs.log
