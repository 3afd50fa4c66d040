#!/bin/bash
# alternate: worker_bench alone vs with a CPU burner (pure ALU loop) beside it
cd /work/main
for i in 1 2 3; do
  for mode in alone burn; do
    B=""
    if [ $mode = burn ]; then python3 -c "while 1: pass" & B=$!; fi
    PAYSTREAM_MODELS_DIR=/tmp/models-45 timeout 300 .venv/bin/python -m loadtest.worker_bench --transactions 100000 > /tmp/coloc/$mode-$i.json 2>/tmp/coloc/$mode-$i.err
    [ -n "$B" ] && kill $B
    sleep 3
  done
done
echo done > /tmp/coloc/done
