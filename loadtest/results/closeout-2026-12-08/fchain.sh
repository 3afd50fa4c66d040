#!/bin/bash
# The new floor (f717036) on main's hot path: f1-f3 kept, then each run's PostgreSQL floor both ways (oldfloor.py).
D=/work/main/loadtest/results/closeout-2026-12-08
cd /work/main
for name in ${NAMES:-f1 f2 f3}; do
  EXTRA=--keep STEPS="$name:${COMMIT:-f717036}" bash $D/chain.sh
  id=$(grep -o "== bench [0-9-]*" $D/$name.console.txt | head -1 | cut -d' ' -f3)
  PYTHONPATH=/work/main .venv/bin/python $D/oldfloor.py "$id" 1000000 > $D/$name.oldfloor.txt 2>&1
done
echo done > $D/fchain.done
