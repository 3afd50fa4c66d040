#!/bin/bash
# experiment: the sinks' and PostgreSQL's autogroups at nice $1 while a bench runs (reads pids, never signals)
N=$1
PGP=$(cat /work/main/.local/run/postgres.pid)
echo $N > /proc/$PGP/autogroup
while true; do
  for p in $(pgrep -f "paystream sink "); do
    cur=$(awk '{print $3}' /proc/$p/autogroup 2>/dev/null)
    [ "$cur" != "$N" ] && echo $N > /proc/$p/autogroup 2>/dev/null && echo "$(date +%T) $p -> $N $(tr '\0' ' ' < /proc/$p/cmdline | cut -c1-80)"
  done
  sleep 0.5
done
