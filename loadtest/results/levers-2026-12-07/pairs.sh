#!/bin/bash
# The outputs' micro-pair, alternated: daf46aa (OutputMessage a dataclass, a list per message
# packed) against this commit's checkout. Run from the repo root with /tmp/wt-base = daf46aa.
for i in 1 2 3 4 5; do
  echo -n "before "; .venv/bin/python loadtest/results/levers-2026-12-07/outputs_bench.py /tmp/wt-base
  echo -n "after  "; .venv/bin/python loadtest/results/levers-2026-12-07/outputs_bench.py .
done
