#!/bin/bash
# usage: run.sh NAME COMMIT — fetch-wait-2026-12-06/run.sh with RESETSTAT=no: Redis's stats are not
# reset at each phase (that zeroed the aof_rewrites the bench counts per phase, so every run
# through it reported 0 rewrites); each NAME.redis-{max,fixed}.txt holds the cumulative stats at
# its phase's start and end, a phase's figures the end's less the start's.
RESETSTAT=no exec bash "$(dirname "$0")/../fetch-wait-2026-12-06/run.sh" "$@"
