#!/usr/bin/env bash
# paystream local stack: Apache Kafka (KRaft, single node), PostgreSQL, two Redis and Prometheus
# as project-local instances (own data dirs and ports, loopback only). No Docker, no systemd.
#
#   deploy/local/stack.sh install   install what is missing (Debian packages, Kafka jars)
#   deploy/local/stack.sh up        install, then start whatever is not running, wait until ready
#   deploy/local/stack.sh down      stop what `up` started (by pid file)
#   deploy/local/stack.sh status    running/stopped per server; exit 0 if all run, 3 otherwise
#   deploy/local/stack.sh env       print the export lines (eval "$(deploy/local/stack.sh env)")
#   deploy/local/stack.sh stop|start SERVER   one server (the outage tests)
#
# This script installs; starting, waiting, stopping and reporting are deploy/local/stack.py's
# (Python, ports from paystream's settings). See deploy/local/README.md.
set -euo pipefail
umask 022

PROG=stack.sh
SCRIPT_PATH=$(readlink -f "${BASH_SOURCE[0]}")
SCRIPT_DIR=$(dirname "$SCRIPT_PATH")
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd -P)
STATE_DIR=$(realpath -m "${PAYSTREAM_STATE_DIR:-$REPO_ROOT/.local}")
PYTHON_BIN=${PYTHON:-$REPO_ROOT/.venv/bin/python}
RUN_DIR=$STATE_DIR/run

KAFKA_POM=$SCRIPT_DIR/kafka/pom.xml
KAFKA_VERSION=${PAYSTREAM_KAFKA_VERSION:-}   # empty: the version pinned in the pom
KAFKA_HOME=$STATE_DIR/kafka
KAFKA_LIBS=$KAFKA_HOME/libs
KAFKA_MARKER=$KAFKA_LIBS/.paystream-installed
PG_DATA=$STATE_DIR/postgres/data

say()  { printf '%s\n' "$*"; }
warn() { printf '%s: warning: %s\n' "$PROG" "$*" >&2; }
die()  { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }

now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# Run a command as root (directly, or through sudo when we are not root).
as_root() {
  if is_root; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
  else die "need root to run: $* (no sudo available). Run '$PROG install' as root."; fi
}

show_log_tail() {  # show_log_tail <name> <file>...
  local name=$1 f; shift
  for f in "$@"; do
    [ -s "$f" ] || continue
    printf -- '----- last lines of %s -----\n' "$f" >&2
    tail -n 40 "$f" >&2 || true
  done
  printf -- '----- end of %s logs -----\n' "$name" >&2
}

acquire_lock() {
  mkdir -p "$RUN_DIR"
  exec 9>"$RUN_DIR/stack.lock"
  if ! flock -n 9; then
    say "waiting for another $PROG run to finish (lock $RUN_DIR/stack.lock)..."
    flock -w 600 9 || die "another $PROG is still running after 600s; is it stuck?"
  fi
}

# The running broker's pid, if any (stack.py finds it by its pid file or command line).
kafka_pid() { [ -x "$PYTHON_BIN" ] && "$PYTHON_BIN" "$SCRIPT_DIR/stack.py" pid kafka 2>/dev/null; }

# ----------------------------------------------------------------------------------------------
# tool discovery

JAVA=""
find_java() {  # sets JAVA to a Java >= 17 binary, or fails
  local cand v
  for cand in ${JAVA_HOME:+"$JAVA_HOME/bin/java"} /usr/lib/jvm/java-17-openjdk-*/bin/java \
              /usr/lib/jvm/java-21-openjdk-*/bin/java "$(command -v java 2>/dev/null || true)"; do
    [ -n "$cand" ] && [ -x "$cand" ] || continue
    v=$("$cand" -version 2>&1 | awk -F'"' '/version/ { print $2; exit }')
    v=${v%%.*}
    case "$v" in ''|*[!0-9]*) continue;; esac
    if [ "$v" -ge 17 ]; then JAVA=$cand; return 0; fi
  done
  return 1
}

find_pg_bin() {  # PostgreSQL is installed (the version the data dir was made with, if there is one)
  local v
  if [ -f "$PG_DATA/PG_VERSION" ]; then
    v=$(<"$PG_DATA/PG_VERSION")
    if [ -x "/usr/lib/postgresql/$v/bin/postgres" ]; then return 0; fi
    die "postgres: $PG_DATA was created by PostgreSQL $v, whose binaries (/usr/lib/postgresql/$v/bin) are missing. Install postgresql-$v, or move $PG_DATA away to start afresh."
  fi
  v=$(ls -1d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sed 's|^/usr/lib/postgresql/||; s|/bin/initdb$||' | sort -V | tail -n1)
  [ -n "$v" ]
}

# ----------------------------------------------------------------------------------------------
# install

kafka_version() {
  if [ -n "$KAFKA_VERSION" ]; then printf '%s' "$KAFKA_VERSION"
  else sed -n 's|.*<kafka.version>\(.*\)</kafka.version>.*|\1|p' "$KAFKA_POM" | head -n1; fi
}

kafka_marker_text() {
  printf 'kafka_2.13=%s pom-sha256=%s\n' "$(kafka_version)" "$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)"
}

cmd_install() {
  local pkgs=() t0
  if ! find_pg_bin; then pkgs+=(postgresql); fi
  if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
    pkgs+=(redis-server)
  fi
  if ! find_java; then pkgs+=(openjdk-17-jre-headless); fi
  if ! command -v mvn >/dev/null 2>&1; then pkgs+=(maven); fi
  # chromium: the console's browser test drives it with Playwright (tests/e2e/test_api.py)
  if ! command -v chromium >/dev/null 2>&1; then pkgs+=(chromium); fi
  # prometheus: scrapes every paystream process the demo starts (deploy/local/prometheus.yml.in)
  if ! command -v prometheus >/dev/null 2>&1; then pkgs+=(prometheus); fi
  # `make lint` runs shellcheck on what is still written in shell
  if ! command -v shellcheck >/dev/null 2>&1; then pkgs+=(shellcheck); fi

  if [ "${#pkgs[@]}" -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 || die "missing ${pkgs[*]} and no apt-get: install them by hand"
    t0=$(now)
    say "install: apt-get install ${pkgs[*]} (apt may also start system-wide redis/postgres services on their default ports; they are not used by this stack)..."
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
      || die "apt-get update failed; check network access / apt sources and retry"
    # Packages with a system service (prometheus, redis, postgres) would start it on their
    # default ports, prometheus on every address: a policy-rc.d that denies starts keeps them
    # down while they install (the stack runs its own instances on 127.0.0.1).
    local guard=no
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      as_root sh -c 'printf "#!/bin/sh\nexit 101\n" >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d' && guard=yes
      # Interrupted, the guard must not stay behind: it would block every service start here.
      trap 'as_root rm -f /usr/sbin/policy-rc.d' INT TERM
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${pkgs[@]}" \
      || { [ "$guard" = no ] || as_root rm -f /usr/sbin/policy-rc.d; die "apt-get install ${pkgs[*]} failed; see the apt output above"; }
    [ "$guard" = no ] || { as_root rm -f /usr/sbin/policy-rc.d; trap - INT TERM; }
    say "install: packages installed in $(elapsed "$t0")"
  fi
  find_pg_bin || die "postgres: no /usr/lib/postgresql/<version>/bin/initdb after installing 'postgresql'"
  find_java || die "java: no Java >= 17 found after installing openjdk-17-jre-headless; set JAVA_HOME"
  command -v redis-server >/dev/null 2>&1 || die "redis: redis-server not found after installing 'redis-server'"
  command -v prometheus >/dev/null 2>&1 || die "prometheus: not found after installing 'prometheus'"

  # Kafka jars from Maven Central, unless the same pom/version was already copied.
  local want; want=$(kafka_marker_text)
  if [ -f "$KAFKA_MARKER" ] && [ "$(<"$KAFKA_MARKER")" = "${want%$'\n'}" ]; then
    return 0
  fi
  local running
  if running=$(kafka_pid); then
    # Never swap jars under a running JVM (it loads classes lazily from them).
    warn "kafka: the jars in $KAFKA_LIBS do not match $KAFKA_POM, but the broker (pid $running) is running on them; run '$PROG down' and '$PROG up' to update"
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || die "maven (mvn) not found"
  t0=$(now)
  say "kafka: downloading Apache Kafka $(kafka_version) jars from Maven Central (mvn)..."
  mkdir -p "$KAFKA_HOME"
  local tmp=$KAFKA_HOME/libs.tmp mvnlog=$KAFKA_HOME/mvn.log
  rm -rf "$tmp"
  local vopt=(); [ -n "$KAFKA_VERSION" ] && vopt=("-Dkafka.version=$KAFKA_VERSION")
  if ! (cd "$KAFKA_HOME" && JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$JAVA")")") \
        mvn -q -B -Dstyle.color=never -f "$KAFKA_POM" "${vopt[@]}" \
        dependency:copy-dependencies -DoutputDirectory="$tmp") >"$mvnlog" 2>&1; then
    show_log_tail maven "$mvnlog"
    rm -rf "$tmp"
    die "kafka: downloading the jars with Maven failed (log: $mvnlog). Check network access to Maven Central (or ~/.m2/settings.xml mirrors/proxies) and retry '$PROG install'."
  fi
  ls "$tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || die "kafka: Maven ran but no kafka_2.13 jar landed in $tmp (log: $mvnlog)"
  printf '%s' "$want" >"$tmp/.paystream-installed"
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
  say "kafka: $(ls "$KAFKA_LIBS"/*.jar | wc -l) jars installed in $KAFKA_LIBS in $(elapsed "$t0")"
}

# ----------------------------------------------------------------------------------------------
# commands

usage() {
  cat <<EOF
usage: $0 {install|up|down|status|env|stop SERVER|start SERVER}
  install  install what is missing (postgresql, redis-server, Java 17, Maven, chromium,
           prometheus, shellcheck, Kafka jars)
  up       install, then start Kafka, PostgreSQL, Redis and Prometheus if not running; wait until ready
  down     stop the servers started by 'up'
  status   show each server; exit 0 if all run, 3 otherwise
  env      print export lines: eval "\$($0 env)"
  stop S   stop one server S (kafka, postgres, redis, redis-notify, prometheus): outage tests
  start S  start one server S again
state: $STATE_DIR (PAYSTREAM_STATE_DIR); ports and the other knobs: deploy/local/README.md
EOF
}

main() {
  case "${1:-}" in
    install) acquire_lock; cmd_install; say "install: done (nothing else missing)" ;;
    up)
      # Installed under the lock, which the subshell lets go before stack.py takes it.
      ( acquire_lock; cmd_install )
      exec "$PYTHON_BIN" "$SCRIPT_DIR/stack.py" up ;;
    down|status|env|stop|start)
      exec "$PYTHON_BIN" "$SCRIPT_DIR/stack.py" "$@" ;;
    -h|--help|help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
