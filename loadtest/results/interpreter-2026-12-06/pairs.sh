#!/bin/bash
# The interpreter pair: main (9479516) from a worktree, the whole bench, alternated A B B A:
# p* on the venv of pyenv's 3.11.7 (built without --enable-optimizations), d* on a venv of
# Debian's python3.11 (PGO + LTO, static), the same packages in both.
R=/work/main/loadtest/results
export OUT=${OUT:-/tmp/s66}
for run in p1:/work/main/.venv d1:/tmp/venv-deb d2:/tmp/venv-deb p2:/work/main/.venv; do
  name=${run%%:*}; venv=${run#*:}
  PY=$venv/bin/python bash $R/fetch-wait-2026-12-06/run.sh $name 9479516
done
