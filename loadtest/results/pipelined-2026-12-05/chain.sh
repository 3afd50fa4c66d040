#!/bin/bash
# How this session's runs went, one at a time (run.sh and chain2.sh: loadtest/results/pack-2026-12-04/;
# base.sh: loadtest/results/final-2026-12-05/; chain4.sh is beside this file):
#   a5857f3 = the first cut (the next batch as soon as any record is queued); e582476 = the kept
#   rule (only when a whole batch is queued); 5630aa6 = before; 65e5c53 = the final code.
bash /tmp/pgprobe/chain2.sh p2-1:a5857f3: o2-1:5630aa6: p1-1:a5857f3:--workers=1 o1-1:5630aa6:--workers=1
bash /tmp/pgprobe/chain2.sh q2-1:e582476: o2-2:5630aa6: q2-2:e582476: o2-3:5630aa6:
bash /tmp/pgprobe/chain4.sh
