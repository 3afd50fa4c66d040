#!/bin/bash
# How this session's runs went, one at a time (run.sh and chain2.sh: loadtest/results/pack-2026-12-04/;
# base.sh: loadtest/results/final-2026-12-05/; chain5.sh and chain7.sh are beside this file):
#   10e1c72 = without the settle agent's linger (t); 451a365 = with it (s); a908c69 = the final
#   code (f: 10e1c72's agents, the linger reverted); e6897cf = the baseline (base).
bash /tmp/pgprobe/chain2.sh t2-1:10e1c72: s2-1:451a365: t2-2:10e1c72: s2-2:451a365:
bash /tmp/pgprobe/chain5.sh   # base-4, s2-3, then goal 4 (g4-lin-*, g4-prev-*, g4-base-*)
bash /tmp/pgprobe/chain2.sh s3-1:451a365:--workers=3 t2-3:10e1c72: s2-4:451a365: t3-1:10e1c72:--workers=3
bash /tmp/pgprobe/chain7.sh   # base-5, f2-1, then goal 5 (sink-bench.txt)
# After CI: where the time goes while a process waits for a core, and the sinks and PostgreSQL at
# nice 10 (schedrun.sh, nicerun.sh and schedsnap.py are beside this file):
bash /tmp/pgprobe/schedrun.sh f2-2 a908c69   # f2-2.sched.txt: CPU and run-queue wait per process, max-rate phase
bash /tmp/pgprobe/nicerun.sh n2-1 a908c69; bash /tmp/pgprobe/run.sh f2-3 a908c69; bash /tmp/pgprobe/nicerun.sh n2-2 a908c69
bash /tmp/pgprobe/run.sh f2-4 a908c69; bash /tmp/pgprobe/nicerun.sh n2-3 a908c69
# Review refactor (5fa99e6: one _until helper) against the code before it (4fb9bca), adjacent:
bash /tmp/pgprobe/chain2.sh u2-1:5fa99e6: f2-5:4fb9bca:
