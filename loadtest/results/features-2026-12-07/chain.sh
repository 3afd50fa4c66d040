#!/bin/bash
# The whole bench as a pair: the fraud profiles' walk compiled (e247441) and main before it
# (6b4cc43), alternated, each with PostgreSQL's processes watched (pgrun.sh). w0: a first run
# after `make up`, to warm the stack (not compared).
D=/work/main/loadtest/results/features-2026-12-07
for step in ${STEPS:-w0:e247441 a1:6b4cc43 b1:e247441 a2:6b4cc43 b2:e247441}; do
  bash $D/pgrun.sh "${step%%:*}" "${step##*:}"
done
echo done > $D/chain.done
