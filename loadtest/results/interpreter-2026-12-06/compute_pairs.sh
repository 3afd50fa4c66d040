#!/bin/bash
# compute_bench under the two interpreters, alternated A B B A A B
cd /work/main  # PY: each venv below
for side in pyenv deb deb pyenv pyenv deb; do
  if [ $side = pyenv ]; then PY=/work/main/.venv/bin/python; else PY=/tmp/venv-deb/bin/python; fi
  echo "== $side $(date +%T)"
  $PY -m loadtest.compute_bench --models-dir /tmp/models-45 2>&1 | tail -8
done
