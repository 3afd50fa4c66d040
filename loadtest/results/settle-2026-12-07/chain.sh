#!/bin/bash
# The whole bench as a pair: settle compiled (the b runs' commit) against main before it
# (f39e422, the a runs), alternated, each with PostgreSQL's processes watched by
# features-2026-12-07/pgrun.sh. w0: the first run after `make up` and the tests, to warm the
# stack (not compared). STEPS="name:commit ..." runs others.
D=/work/main/loadtest/results/settle-2026-12-07
for step in ${STEPS:?STEPS=\"w0:COMMIT a1:f39e422 ...\"}; do
  OUT=$D bash $D/../features-2026-12-07/pgrun.sh "${step%%:*}" "${step##*:}"
done
echo done > $D/chain.done
