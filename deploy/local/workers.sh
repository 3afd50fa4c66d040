# shellcheck shell=bash
# Sourced by demo.sh and evaluate.sh: start paystream workers in the background, stop them (by
# PID) when the calling script exits, however it exits.
# Needs: PAYSTREAM (the CLI), LOGS (a folder for the worker logs).
pids=()

stop_workers() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_workers EXIT

start_process() {  # start_process LOGNAME paystream-args...: any long-running paystream command
  local name=$1; shift
  $PAYSTREAM "$@" > "$LOGS/$name.log" 2>&1 &
  pids+=($!)
}

start_workers() {  # start_workers N
  for n in $(seq 1 "$1"); do
    $PAYSTREAM worker --stats-every-s 5 > "$LOGS/worker-$n.log" 2>&1 &
    pids+=($!)
  done
}

ensure_model() {  # train one when no model the workers can load is there (about a minute)
  local why
  if ! why=$($PAYSTREAM model check 2>&1 >/dev/null); then
    echo "== $why: training one (paystream train, seeds 1-4)"
    $PAYSTREAM train
  fi
}
