#!/usr/bin/env bash
# paystream local stack: Apache Kafka (KRaft, single node), PostgreSQL and Redis as project-local
# instances (own data dirs and ports, loopback only). No Docker, no systemd needed.
#
#   deploy/local/stack.sh install   install what is missing (Debian packages, Kafka jars)
#   deploy/local/stack.sh up        install, then start whatever is not running, wait until ready
#   deploy/local/stack.sh down      stop what `up` started (by pid file)
#   deploy/local/stack.sh status    running/stopped per server; exit 0 if all run, 3 otherwise
#   deploy/local/stack.sh env       print the export lines (eval "$(deploy/local/stack.sh env)")
#
# See deploy/local/README.md for the layout, the ports and the environment variables.
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true   # bash 5.2: '&' in ${x//a/b} must stay literal
umask 022

PROG=stack.sh
SCRIPT_PATH=$(readlink -f "${BASH_SOURCE[0]}")
SCRIPT_DIR=$(dirname "$SCRIPT_PATH")
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd -P)
STATE_DIR=$(realpath -m "${PAYSTREAM_STATE_DIR:-$REPO_ROOT/.local}")

KAFKA_PORT=${PAYSTREAM_KAFKA_PORT:-19092}
KAFKA_CONTROLLER_PORT=${PAYSTREAM_KAFKA_CONTROLLER_PORT:-19093}
KAFKA_SASL_PORT=${PAYSTREAM_KAFKA_SASL_PORT:-19094}         # SASL_SSL (SCRAM-SHA-512) listener
PG_PORT=${PAYSTREAM_PG_PORT:-15432}
REDIS_PORT=${PAYSTREAM_REDIS_PORT:-16379}
NOTIFY_REDIS_PORT=${PAYSTREAM_NOTIFY_REDIS_PORT:-16380}   # notifications: a failure domain of its own
REDIS_TLS_PORT=${PAYSTREAM_REDIS_TLS_PORT:-16389}           # the same servers over TLS
NOTIFY_REDIS_TLS_PORT=${PAYSTREAM_NOTIFY_REDIS_TLS_PORT:-16390}
PROM_PORT=${PAYSTREAM_PROMETHEUS_PORT:-19090}
HOST=127.0.0.1
WAIT_SECS=${PAYSTREAM_WAIT_SECS:-90}       # bound for each server to become ready
STOP_SECS=${PAYSTREAM_STOP_SECS:-30}       # bound for each server to stop before SIGKILL
PYTHON_BIN=${PYTHON:-$REPO_ROOT/.venv/bin/python}

RUN_DIR=$STATE_DIR/run
# The stack's CA and server certificate (every server's TLS) and each role's passwords (one file
# per user and system, 0600): made once by tls_ensure and `paystream access ... --generate`.
TLS_DIR=$STATE_DIR/tls
SECRETS_DIR=$STATE_DIR/secrets

KAFKA_POM=$SCRIPT_DIR/kafka/pom.xml
KAFKA_PROPS_IN=$SCRIPT_DIR/kafka/server.properties.in
KAFKA_LOG4J=$SCRIPT_DIR/kafka/log4j.properties
KAFKA_TOOLS_LOG4J=$SCRIPT_DIR/kafka/tools-log4j.properties
KAFKA_VERSION=${PAYSTREAM_KAFKA_VERSION:-}   # empty: the version pinned in the pom
KAFKA_HEAP_OPTS=${PAYSTREAM_KAFKA_HEAP_OPTS:--Xms512m -Xmx1g}
KAFKA_HOME=$STATE_DIR/kafka
KAFKA_LIBS=$KAFKA_HOME/libs
KAFKA_DATA=$KAFKA_HOME/data
KAFKA_LOGS=$KAFKA_HOME/logs
KAFKA_PROPS=$KAFKA_HOME/server.properties
KAFKA_CLUSTER_ID_FILE=$KAFKA_HOME/cluster.id
KAFKA_MARKER=$KAFKA_LIBS/.paystream-installed
KAFKA_PIDFILE=$RUN_DIR/kafka.pid

PG_HOME=$STATE_DIR/postgres
PG_DATA=$PG_HOME/data
PG_LOG=$PG_HOME/postgres.log
PG_SOCK_DIR=$PG_HOME/socket
if [ $(( ${#PG_SOCK_DIR} + 16 )) -gt 107 ]; then   # unix socket paths are limited to 107 bytes
  PG_SOCK_DIR=/tmp/paystream-pg-$(printf '%s' "$STATE_DIR" | sha256sum | cut -c1-12)
fi
PG_CONF_SRC=$SCRIPT_DIR/postgresql.conf
PG_HBA_SRC=$SCRIPT_DIR/pg_hba.conf
PG_PIDFILE=$RUN_DIR/postgres.pid           # informational copy; the truth is data/postmaster.pid
PG_OS_USER=postgres

REDIS_CONF_IN=$SCRIPT_DIR/redis.conf.in

PROM_CONF_IN=$SCRIPT_DIR/prometheus.yml.in
PROM_HOME=$STATE_DIR/prometheus
PROM_CONF=$PROM_HOME/prometheus.yml
PROM_TARGETS=$PROM_HOME/targets
PROM_LOG=$PROM_HOME/prometheus.log
PROM_PIDFILE=$RUN_DIR/prometheus.pid
STATE_REDIS_PORT=$REDIS_PORT

redis_instance() {  # redis_instance redis|redis-notify: point the REDIS_* variables at one server
  REDIS_NAME=$1
  case "$1" in
    redis)        REDIS_PORT=$STATE_REDIS_PORT; REDIS_TLS=$REDIS_TLS_PORT; REDIS_ROLE=state
                  REDIS_HOME=$STATE_DIR/redis ;;
    redis-notify) REDIS_PORT=$NOTIFY_REDIS_PORT; REDIS_TLS=$NOTIFY_REDIS_TLS_PORT; REDIS_ROLE=notify
                  REDIS_HOME=$STATE_DIR/redis-notify ;;
    *) die "no redis instance named $1" ;;
  esac
  REDIS_CONF=$REDIS_HOME/redis.conf
  REDIS_LOG=$REDIS_HOME/redis.log
  REDIS_PIDFILE=$RUN_DIR/$1.pid
}
redis_instance redis

KAFKA_BOOTSTRAP_SERVERS="$HOST:$KAFKA_PORT"
DATABASE_URL="postgresql://paystream@$HOST:$PG_PORT/paystream"
REDIS_URL="redis://$HOST:$REDIS_PORT/0"
NOTIFY_REDIS_URL="redis://$HOST:$NOTIFY_REDIS_PORT/0"
PROMETHEUS_URL="http://$HOST:$PROM_PORT"

# ----------------------------------------------------------------------------------------------
# helpers

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

# True if something accepts TCP connections on 127.0.0.1:<port>.
port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null; }

validate_port() {
  case "$2" in ''|*[!0-9]*) die "$1 must be a port number, got '$2'";; esac
  [ "$2" -ge 1 ] && [ "$2" -le 65535 ] || die "$1 must be 1-65535, got '$2'"
}

# True if the pid exists and is not a zombie (PID 1 here may reap exited processes late).
pid_alive() {
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# Print the command line of a live process (NULs as spaces), or fail if it does not exist.
proc_cmdline() {
  pid_alive "$1" || return 1
  [ -r "/proc/$1/cmdline" ] || return 1
  local c; c=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
  [ -n "$c" ] || return 1          # zombie / kernel thread
  printf '%s' "$c"
}

# Read a pid from the first line of a file; fail if absent or not a number.
read_pid() {
  [ -f "$1" ] || return 1
  local p; p=$(head -n1 "$1" 2>/dev/null | tr -d '[:space:]')
  case "$p" in ''|*[!0-9]*) return 1;; esac
  printf '%s' "$p"
}

# Render a template: render <in> <out> KEY=value... replaces @KEY@. Writes only when changed.
render() {
  local in=$1 out=$2 content kv; shift 2
  content=$(<"$in")
  for kv in "$@"; do content=${content//"@${kv%%=*}@"/"${kv#*=}"}; done
  if [ ! -f "$out" ] || [ "$(<"$out")" != "$content" ]; then
    printf '%s\n' "$content" >"$out.tmp" && mv -f "$out.tmp" "$out"
  fi
}

# The stack's own CA and one server certificate for 127.0.0.1/localhost (Kafka, PostgreSQL and
# Redis all present it), made once with openssl; Kafka reads it from a PKCS12 keystore.
tls_ensure() {
  [ -s "$TLS_DIR/kafka.p12" ] && [ -s "$SECRETS_DIR/kafka-keystore" ] && return 0
  say "tls: making the stack's CA and server certificate in $TLS_DIR..."
  mkdir -p "$TLS_DIR" "$SECRETS_DIR"; chmod 700 "$SECRETS_DIR"
  local log=$TLS_DIR/openssl.log
  (
    set -e; cd "$TLS_DIR"; umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=paystream local CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -keyout ca.key -out ca.crt
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr
    printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "extendedKeyUsage=serverAuth" \
      "basicConstraints=CA:FALSE" "keyUsage=digitalSignature,keyEncipherment" >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
      -extfile server.ext -out server.crt
    openssl rand -hex 24 >"$SECRETS_DIR/kafka-keystore"
    openssl pkcs12 -export -in server.crt -inkey server.key -certfile ca.crt -name kafka \
      -passout "file:$SECRETS_DIR/kafka-keystore" -out kafka.p12
    chmod 644 ca.crt server.crt
  ) >"$log" 2>&1 || { show_log_tail tls "$log"; die "tls: making certificates failed (log: $log)"; }
}

# `paystream access ...` as the stack's admin, with the stack's (plaintext) endpoints.
paystream_access() {
  KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS KAFKA_SECURITY_PROTOCOL=PLAINTEXT \
    PAYSTREAM_TOPIC_PREFIX="" PAYSTREAM_DB_SCHEMA=paystream \
    DATABASE_URL="postgresql://postgres@$HOST:$PG_PORT/paystream" \
    "$PYTHON_BIN" -m paystream --log-level warning access "$@"
}

# Rotate a plain log file when it is larger than ~50 MB (keeps one old copy).
rotate_log() {
  local f=$1
  if [ -f "$f" ] && [ "$(stat -c %s "$f")" -gt 52428800 ]; then mv -f "$f" "$f.1"; fi
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

# Wait (bounded) for a pid to disappear.
wait_gone() {  # wait_gone <pid> <seconds>
  local pid=$1 deadline=$(( SECONDS + $2 ))
  while pid_alive "$pid"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

stop_pid() {  # stop_pid <name> <pid>: SIGTERM, wait up to STOP_SECS, then SIGKILL
  local name=$1 pid=$2 t0; t0=$(now)
  say "$name: stopping (pid $pid)..."
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_gone "$pid" "$STOP_SECS"; then
    warn "$name: still alive after ${STOP_SECS}s, sending SIGKILL to pid $pid"
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" 10 || die "$name: pid $pid survived SIGKILL; investigate with 'ps -fp $pid'"
  fi
  say "$name: stopped in $(elapsed "$t0")"
}

acquire_lock() {
  mkdir -p "$RUN_DIR"
  exec 9>"$RUN_DIR/stack.lock"
  if ! flock -n 9; then
    say "waiting for another $PROG run to finish (lock $RUN_DIR/stack.lock)..."
    flock -w 600 9 || die "another $PROG is still running after 600s; is it stuck?"
  fi
}

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

PG_BIN=""
find_pg_bin() {  # sets PG_BIN; prefers the version the existing data dir was created with
  local v
  if [ -f "$PG_DATA/PG_VERSION" ]; then
    v=$(<"$PG_DATA/PG_VERSION")
    if [ -x "/usr/lib/postgresql/$v/bin/postgres" ]; then PG_BIN=/usr/lib/postgresql/$v/bin; return 0; fi
    die "postgres: $PG_DATA was created by PostgreSQL $v, whose binaries (/usr/lib/postgresql/$v/bin) are missing. Install postgresql-$v, or move $PG_DATA away to start afresh."
  fi
  v=$(ls -1d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sed 's|^/usr/lib/postgresql/||; s|/bin/initdb$||' | sort -V | tail -n1)
  [ -n "$v" ] || return 1
  PG_BIN=/usr/lib/postgresql/$v/bin
}

HAVE_CONFLUENT=""
have_confluent_kafka() {
  if [ -z "$HAVE_CONFLUENT" ]; then
    if [ -x "$PYTHON_BIN" ] && "$PYTHON_BIN" -c 'import confluent_kafka' >/dev/null 2>&1; then
      HAVE_CONFLUENT=yes; else HAVE_CONFLUENT=no; fi
  fi
  [ "$HAVE_CONFLUENT" = yes ]
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
# kafka

is_our_kafka() {  # live JVM running kafka.Kafka with our server.properties
  local cmd; cmd=$(proc_cmdline "$1") || return 1
  case "$cmd" in *kafka.Kafka*"$KAFKA_PROPS"*) return 0;; esac
  return 1
}

# Prints the pid of our running broker, or fails. The pid file is the normal source; if it is
# missing or stale, the broker is looked for by its command line (our server.properties path).
kafka_pid() {
  local pid f
  if pid=$(read_pid "$KAFKA_PIDFILE") && is_our_kafka "$pid"; then printf '%s' "$pid"; return 0; fi
  for f in $(grep -lsaF -- "$KAFKA_PROPS" /proc/[0-9]*/cmdline 2>/dev/null); do
    pid=${f#/proc/}; pid=${pid%/cmdline}
    if is_our_kafka "$pid"; then printf '%s' "$pid"; return 0; fi
  done
  return 1
}

# Make the pid file say <pid> (used when a running server was found without a valid pid file).
adopt_pid() {  # adopt_pid <name> <pidfile> <pid>
  local cur; cur=$(read_pid "$2") || cur=""
  if [ "$cur" != "$3" ]; then
    say "$1: found our running server (pid $3) with a missing/stale pid file; pid file rewritten"
    printf '%s\n' "$3" >"$2"
  fi
}

kafka_java() {  # run a Kafka tool class
  "$JAVA" -Xmx256m -Dlog4j.configuration="file:$KAFKA_TOOLS_LOG4J" -cp "$KAFKA_LIBS/*" "$@"
}

kafka_answers() {  # port open AND the broker answers a metadata request
  port_open "$KAFKA_PORT" || return 1
  if have_confluent_kafka; then
    timeout 10 "$PYTHON_BIN" - "$KAFKA_BOOTSTRAP_SERVERS" >/dev/null 2>&1 <<'PY'
import sys
from confluent_kafka.admin import AdminClient
md = AdminClient({"bootstrap.servers": sys.argv[1], "log_level": 0}).list_topics(timeout=2)
sys.exit(0 if md.brokers else 1)
PY
  else
    timeout 30 "$JAVA" -Xmx128m -XX:TieredStopAtLevel=1 -Dlog4j.configuration="file:$KAFKA_TOOLS_LOG4J" \
      -cp "$KAFKA_LIBS/*" kafka.admin.BrokerApiVersionsCommand \
      --bootstrap-server "$KAFKA_BOOTSTRAP_SERVERS" >/dev/null 2>&1
  fi
}

KAFKA_T0=""
kafka_start() {  # launches the broker if needed; readiness is awaited by kafka_wait
  local pid
  KAFKA_T0=$(now)
  if pid=$(kafka_pid); then
    adopt_pid kafka "$KAFKA_PIDFILE" "$pid"
    KAFKA_STARTED=no
    return 0
  fi
  if [ -f "$KAFKA_PIDFILE" ]; then
    say "kafka: removing stale pid file $KAFKA_PIDFILE (pid $(read_pid "$KAFKA_PIDFILE" || echo '?') is not our broker)"
    rm -f "$KAFKA_PIDFILE"
  fi
  local p
  for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$KAFKA_SASL_PORT"; do
    if port_open "$p"; then
      die "kafka: port $HOST:$p is already in use by another process (not started by this stack). Stop it (see 'ss -ltnp | grep :$p') or choose other ports with PAYSTREAM_KAFKA_PORT / PAYSTREAM_KAFKA_CONTROLLER_PORT."
    fi
  done
  mkdir -p "$KAFKA_DATA" "$KAFKA_LOGS"
  tls_ensure
  ( umask 077; render "$KAFKA_PROPS_IN" "$KAFKA_PROPS" \
    "KAFKA_PORT=$KAFKA_PORT" "CONTROLLER_PORT=$KAFKA_CONTROLLER_PORT" "DATA_DIR=$KAFKA_DATA" \
    "SASL_PORT=$KAFKA_SASL_PORT" "KEYSTORE=$TLS_DIR/kafka.p12" \
    "KEYSTORE_PASSWORD=$(cat "$SECRETS_DIR/kafka-keystore")" )

  # Cluster id: generated once, kept in a file; the data dir's meta.properties wins if present.
  local cid=""
  if [ -f "$KAFKA_DATA/meta.properties" ]; then
    cid=$(sed -n 's/^cluster\.id=//p' "$KAFKA_DATA/meta.properties" | head -n1)
    [ -n "$cid" ] && [ "$(cat "$KAFKA_CLUSTER_ID_FILE" 2>/dev/null)" != "$cid" ] && printf '%s\n' "$cid" >"$KAFKA_CLUSTER_ID_FILE"
  fi
  if [ -z "$cid" ]; then
    [ -s "$KAFKA_CLUSTER_ID_FILE" ] || {
      cid=$(kafka_java kafka.tools.StorageTool random-uuid 2>"$KAFKA_LOGS/storage-tool.err" | tail -n1) \
        || { show_log_tail kafka "$KAFKA_LOGS/storage-tool.err"; die "kafka: StorageTool random-uuid failed"; }
      [ -n "$cid" ] || die "kafka: StorageTool random-uuid printed nothing"
      printf '%s\n' "$cid" >"$KAFKA_CLUSTER_ID_FILE"
    }
    cid=$(head -n1 "$KAFKA_CLUSTER_ID_FILE")
  fi
  if [ ! -f "$KAFKA_DATA/meta.properties" ]; then
    say "kafka: formatting storage $KAFKA_DATA (cluster id $cid)..."
    kafka_java kafka.tools.StorageTool format -t "$cid" -c "$KAFKA_PROPS" >"$KAFKA_LOGS/storage-format.log" 2>&1 \
      || { show_log_tail kafka "$KAFKA_LOGS/storage-format.log"; die "kafka: formatting $KAFKA_DATA failed"; }
  fi

  say "kafka: starting..."
  [ -f "$KAFKA_LOGS/kafka.out" ] && mv -f "$KAFKA_LOGS/kafka.out" "$KAFKA_LOGS/kafka.out.1"
  # The child shell writes its own pid and then execs java, so the pid file holds the JVM's pid
  # whether or not setsid had to fork. setsid: own session, immune to the caller's SIGHUP/Ctrl-C.
  (
    cd "$KAFKA_HOME"
    # shellcheck disable=SC2086  # KAFKA_HEAP_OPTS is a list of JVM flags
    exec setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$KAFKA_PIDFILE" \
      "$JAVA" $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
      -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
      "-Xlog:gc*:file=$KAFKA_LOGS/gc.log:time,tags:filecount=5,filesize=20M" \
      -Djava.awt.headless=true -Djava.net.preferIPv4Stack=true \
      "-Dkafka.logs.dir=$KAFKA_LOGS" "-Dlog4j.configuration=file:$KAFKA_LOG4J" \
      -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_PROPS"
  ) </dev/null >"$KAFKA_LOGS/kafka.out" 2>&1 9>&- &
  local deadline=$(( SECONDS + 10 ))
  until [ -s "$KAFKA_PIDFILE" ]; do
    [ "$SECONDS" -lt "$deadline" ] || { show_log_tail kafka "$KAFKA_LOGS/kafka.out"; die "kafka: the JVM did not start"; }
    sleep 0.1
  done
  KAFKA_STARTED=yes
}

kafka_wait() {
  local deadline=$(( SECONDS + WAIT_SECS )) pid
  while :; do
    if ! pid=$(kafka_pid); then
      show_log_tail kafka "$KAFKA_LOGS/kafka.out" "$KAFKA_LOGS/server.log"
      rm -f "$KAFKA_PIDFILE"
      die "kafka: the broker exited during startup (logs in $KAFKA_LOGS). Fix the cause above and run '$PROG up' again."
    fi
    kafka_answers && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      show_log_tail kafka "$KAFKA_LOGS/kafka.out" "$KAFKA_LOGS/server.log"
      die "kafka: pid $pid did not answer on $KAFKA_BOOTSTRAP_SERVERS within ${WAIT_SECS}s (logs in $KAFKA_LOGS). It is left running; '$PROG down' stops it."
    fi
    sleep 0.5
  done
  if [ "$KAFKA_STARTED" = yes ]; then
    say "kafka: ready at $KAFKA_BOOTSTRAP_SERVERS (pid $pid) in $(elapsed "$KAFKA_T0")"
  else
    say "kafka: already running at $KAFKA_BOOTSTRAP_SERVERS (pid $pid)"
  fi
  paystream_access kafka --passwords-dir "$SECRETS_DIR/kafka" --generate \
    || die "kafka: giving the roles their SCRAM users and ACLs failed (above)"
}

kafka_stop() {
  local pid
  if pid=$(kafka_pid); then
    stop_pid kafka "$pid"
  elif [ -f "$KAFKA_PIDFILE" ]; then
    say "kafka: not running (removing stale pid file)"
  else
    say "kafka: not running"
  fi
  rm -f "$KAFKA_PIDFILE"
}

# ----------------------------------------------------------------------------------------------
# postgres

# Run a PostgreSQL server-side command as the right OS user (initdb/postgres refuse to run as root).
pg_as() {
  if is_root; then
    (cd "$PG_HOME" && runuser -u "$PG_OS_USER" -- "$@")
  else
    (cd "$PG_HOME" && "$@")
  fi
}

# Live processes whose working directory is our data dir (every PostgreSQL server process
# chdirs there): used to tell a stale postmaster.pid from a server that is still (partly) alive.
pg_dir_procs() {
  local c
  for c in /proc/[0-9]*/cwd; do
    if [ "$(readlink "$c" 2>/dev/null)" = "$PG_DATA" ]; then
      c=${c#/proc/}; c=${c%/cwd}
      if pid_alive "$c"; then printf '%s ' "$c"; fi
    fi
  done
  return 0
}

pg_pid() {  # pid of the postmaster serving our data dir, or fail
  local pid cmd
  pid=$(read_pid "$PG_DATA/postmaster.pid") || return 1
  cmd=$(proc_cmdline "$pid") || return 1
  case "$cmd" in *postgres*"$PG_DATA"*) printf '%s' "$pid";; *) return 1;; esac
}

psql_q() {  # psql_q <url> <args>...: quiet psql without ~/.psqlrc, bounded connect
  local url=$1; shift
  PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$url" "$@"
}

# The postgres OS user must be able to reach $PG_HOME: give it search (x) permission on any
# ancestor directory it cannot traverse (x only: it still cannot list or read them).
pg_ensure_traversable() {
  is_root || return 0
  local d=$STATE_DIR path=()
  while [ "$d" != / ]; do path=("$d" "${path[@]}"); d=$(dirname "$d"); done
  for d in "${path[@]}"; do
    if ! runuser -u "$PG_OS_USER" -- test -x "$d" 2>/dev/null; then
      if command -v setfacl >/dev/null 2>&1; then
        setfacl -m "u:$PG_OS_USER:x" "$d"
      else
        chmod o+x "$d"
      fi
      say "postgres: granted search permission on $d to the '$PG_OS_USER' user"
    fi
  done
}

pg_prepare() {
  if is_root; then
    id -u "$PG_OS_USER" >/dev/null 2>&1 \
      || die "postgres: running as root, but there is no '$PG_OS_USER' OS user to run PostgreSQL as (the Debian 'postgresql' package creates it). Reinstall postgresql-common or run as a normal user."
  fi
  mkdir -p "$PG_HOME"
  pg_ensure_traversable
  mkdir -p "$PG_SOCK_DIR"
  if is_root; then chown "$PG_OS_USER:" "$PG_HOME" "$PG_SOCK_DIR"; fi
  chmod 700 "$PG_HOME"
  case "$PG_SOCK_DIR" in "$PG_HOME"/*) ;; *)
    chmod 700 "$PG_SOCK_DIR"
    warn "postgres: state path too long for a unix socket; socket directory is $PG_SOCK_DIR";;
  esac
  if [ ! -e "$PG_LOG" ]; then
    : >"$PG_LOG"
    if is_root; then chown "$PG_OS_USER:" "$PG_LOG"; fi
  fi

  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    if [ -d "$PG_DATA" ] && [ -n "$(ls -A "$PG_DATA" 2>/dev/null)" ]; then
      die "postgres: $PG_DATA exists and is not empty but holds no cluster (no PG_VERSION). Move it away and run '$PROG up' again."
    fi
    local t0; t0=$(now)
    say "postgres: initdb $PG_DATA ($PG_BIN)..."
    # Data checksums: this is a ledger, so detect silent corruption. Locale C.UTF-8 is always
    # present on Debian and gives byte-order collation (stable, fast).
    if ! pg_as "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth-local=trust --auth-host=trust \
          -E UTF8 --locale=C.UTF-8 --data-checksums >"$PG_HOME/initdb.log" 2>&1; then
      show_log_tail postgres "$PG_HOME/initdb.log"
      die "postgres: initdb failed (log: $PG_HOME/initdb.log)"
    fi
    say "postgres: cluster initialised in $(elapsed "$t0")"
  fi
  # Our settings live in paystream.conf, included once from postgresql.conf.
  if ! cmp -s "$PG_CONF_SRC" "$PG_DATA/paystream.conf"; then
    cp "$PG_CONF_SRC" "$PG_DATA/paystream.conf"
    if is_root; then chown "$PG_OS_USER:" "$PG_DATA/paystream.conf"; fi
  fi
  # TLS with the stack's certificate (PostgreSQL wants its key private to its own user), and
  # who may connect how (deploy/local/pg_hba.conf).
  tls_ensure
  local f
  for f in server.crt server.key pg_hba.conf; do
    local src=$TLS_DIR/$f; [ "$f" = pg_hba.conf ] && src=$PG_HBA_SRC
    if ! cmp -s "$src" "$PG_DATA/$f"; then
      install -m 600 "$src" "$PG_DATA/$f"
      if is_root; then chown "$PG_OS_USER:" "$PG_DATA/$f"; fi
    fi
  done
  if ! grep -q "^include_if_exists = 'paystream.conf'" "$PG_DATA/postgresql.conf"; then
    printf "\n# paystream local stack settings (deploy/local/postgresql.conf)\ninclude_if_exists = 'paystream.conf'\n" \
      >>"$PG_DATA/postgresql.conf"
  fi
}

pg_bootstrap_roles() {  # role and database 'paystream', idempotently (no write if they exist)
  psql_q "postgresql://postgres@$HOST:$PG_PORT/postgres" >/dev/null <<'SQL'
SELECT 'CREATE ROLE paystream LOGIN CREATEDB'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'paystream') \gexec
SELECT 'ALTER ROLE paystream LOGIN CREATEDB'
  FROM pg_roles WHERE rolname = 'paystream' AND NOT (rolcanlogin AND rolcreatedb) \gexec
SELECT 'CREATE DATABASE paystream OWNER paystream'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'paystream') \gexec
SQL
}

pg_up() {
  local t0 pid started=no deadline
  t0=$(now)
  if ! pid=$(pg_pid); then
    if [ -f "$PG_DATA/postmaster.pid" ]; then
      # Stale lock file (server killed/crashed; its pid may now be a zombie or reused by another
      # program, and PostgreSQL would then refuse to start). Remove it only once no process is
      # left running in the data dir (children of a killed postmaster exit within moments).
      local old others d3=$(( SECONDS + 15 ))
      old=$(read_pid "$PG_DATA/postmaster.pid") || old="?"
      while others=$(pg_dir_procs) && [ -n "$others" ]; do
        if [ "$SECONDS" -ge "$d3" ]; then
          die "postgres: $PG_DATA/postmaster.pid names pid $old, which is not a running postmaster, but processes $others still run in $PG_DATA. Wait for them to exit (or stop them), then run '$PROG up' again."
        fi
        sleep 0.3
      done
      say "postgres: removing stale $PG_DATA/postmaster.pid (pid $old is not running our server)"
      rm -f "$PG_DATA/postmaster.pid"
      # Same for the socket lock files in our private socket dir (they name the same dead pid).
      rm -f "$PG_SOCK_DIR"/.s.PGSQL.*
    fi
    rm -f "$PG_PIDFILE"
    if port_open "$PG_PORT"; then
      die "postgres: port $HOST:$PG_PORT is already in use by another process (not started by this stack). Stop it (see 'ss -ltnp | grep :$PG_PORT') or choose another port with PAYSTREAM_PG_PORT."
    fi
    pg_prepare
    rotate_log "$PG_LOG"
    say "postgres: starting..."
    if ! pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$WAIT_SECS" \
          -o "-p $PG_PORT -k '$PG_SOCK_DIR' -c listen_addresses=$HOST" start >/dev/null 9>&-; then
      show_log_tail postgres "$PG_LOG"
      die "postgres: pg_ctl start failed or timed out after ${WAIT_SECS}s (log: $PG_LOG)"
    fi
    started=yes
  fi
  deadline=$(( SECONDS + WAIT_SECS ))
  until "$PG_BIN/pg_isready" -q -h "$HOST" -p "$PG_PORT" -U postgres -d postgres -t 2; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      show_log_tail postgres "$PG_LOG"; die "postgres: not accepting connections on $HOST:$PG_PORT after ${WAIT_SECS}s (log: $PG_LOG)"
    fi
    sleep 0.3
  done
  pg_bootstrap_roles || { show_log_tail postgres "$PG_LOG"; die "postgres: creating role/database 'paystream' failed"; }
  paystream_access postgres --passwords-dir "$SECRETS_DIR/postgres" --generate \
    || die "postgres: creating the roles of least privilege failed (above)"
  local out=""
  until out=$(psql_q "$DATABASE_URL" -A -t -c 'select 1' 2>&1) && [ "$out" = 1 ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      printf '%s\n' "$out" >&2; show_log_tail postgres "$PG_LOG"
      die "postgres: 'select 1' as paystream failed on $DATABASE_URL"
    fi
    sleep 0.3
  done
  pid=$(pg_pid) || die "postgres: the server answers but $PG_DATA/postmaster.pid does not point at it"
  if [ "$(read_pid "$PG_PIDFILE" || true)" != "$pid" ]; then printf '%s\n' "$pid" >"$PG_PIDFILE"; fi
  if [ "$started" = yes ]; then
    say "postgres: ready at $HOST:$PG_PORT (pid $pid) in $(elapsed "$t0")"
  else
    say "postgres: already running at $HOST:$PG_PORT (pid $pid)"
  fi
}

pg_stop() {
  local pid t0
  if pid=$(pg_pid); then
    find_pg_bin || die "postgres: no PostgreSQL binaries found to stop $PG_DATA; stop pid $pid by hand"
    t0=$(now)
    say "postgres: stopping (pid $pid)..."
    if ! pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t "$STOP_SECS" stop >/dev/null; then
      warn "postgres: fast shutdown did not finish in ${STOP_SECS}s; using immediate shutdown (crash recovery at next start)"
      pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w -t 30 stop >/dev/null \
        || die "postgres: could not stop pid $pid; see $PG_LOG"
    fi
    say "postgres: stopped in $(elapsed "$t0")"
  elif [ -f "$PG_DATA/postmaster.pid" ]; then
    say "postgres: not running (stale postmaster.pid; the next 'up' checks and removes it)"
  else
    say "postgres: not running"
  fi
  rm -f "$PG_PIDFILE"
}

# ----------------------------------------------------------------------------------------------
# redis

is_our_redis() {  # live redis-server whose working directory (its `dir`) is ours
  local cmd; cmd=$(proc_cmdline "$1") || return 1
  case "$cmd" in *redis-server*) ;; *) return 1;; esac
  [ "$(readlink "/proc/$1/cwd" 2>/dev/null)" = "$REDIS_HOME" ]
}

redis_pid() {  # pid of our redis-server (pid file, else found by name + cwd), or fail
  local pid f
  if pid=$(read_pid "$REDIS_PIDFILE") && is_our_redis "$pid"; then printf '%s' "$pid"; return 0; fi
  for f in $(grep -lsaF -- redis-server /proc/[0-9]*/cmdline 2>/dev/null); do
    pid=${f#/proc/}; pid=${pid%/cmdline}
    if is_our_redis "$pid"; then printf '%s' "$pid"; return 0; fi
  done
  return 1
}

redis_answers() { [ "$(timeout 3 redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

redis_acl_file() {  # the instance's ACL users (streams/access.py) with the stack's passwords
  paystream_access redis-acl --server "$REDIS_ROLE" --passwords-dir "$SECRETS_DIR/redis" \
    --generate --out "$REDIS_HOME/users.acl" >/dev/null \
    || die "$REDIS_NAME: writing its ACL file failed (above)"
}

redis_up() {
  local t0 pid started=no deadline
  t0=$(now)
  if pid=$(redis_pid); then
    adopt_pid "$REDIS_NAME" "$REDIS_PIDFILE" "$pid"
    # Users added since it started (streams/access.py): rewrite its ACL file and reload it.
    local before; before=$(cat "$REDIS_HOME/users.acl" 2>/dev/null || true)
    redis_acl_file
    if [ "$(cat "$REDIS_HOME/users.acl")" != "$before" ]; then
      timeout 5 redis-cli -h "$HOST" -p "$REDIS_PORT" ACL LOAD >/dev/null \
        || die "$REDIS_NAME: ACL LOAD of $REDIS_HOME/users.acl failed"
      say "$REDIS_NAME: ACL users reloaded"
    fi
  else
    if [ -f "$REDIS_PIDFILE" ]; then
      say "$REDIS_NAME: removing stale pid file $REDIS_PIDFILE (pid $(read_pid "$REDIS_PIDFILE" || echo '?') is not our server)"
      rm -f "$REDIS_PIDFILE"
    fi
    if port_open "$REDIS_PORT" || port_open "$REDIS_TLS"; then
      die "$REDIS_NAME: port $HOST:$REDIS_PORT is already in use by another process (not started by this stack). Stop it (see 'ss -ltnp | grep :$REDIS_PORT') or choose another port with PAYSTREAM_REDIS_PORT."
    fi
    mkdir -p "$REDIS_HOME"
    tls_ensure
    redis_acl_file
    render "$REDIS_CONF_IN" "$REDIS_CONF" \
      "PORT=$REDIS_PORT" "DIR=$REDIS_HOME" "PIDFILE=$REDIS_PIDFILE" "LOGFILE=$REDIS_LOG" \
      "TLS_PORT=$REDIS_TLS" "TLS_DIR=$TLS_DIR" "ACLFILE=$REDIS_HOME/users.acl"
    rotate_log "$REDIS_LOG"
    say "$REDIS_NAME: starting..."
    # daemonize yes: redis-server forks, detaches (setsid) and writes its pid file itself.
    if ! (cd "$REDIS_HOME" && redis-server "$REDIS_CONF" </dev/null >"$REDIS_HOME/redis.out" 2>&1 9>&-); then
      show_log_tail "$REDIS_NAME" "$REDIS_HOME/redis.out" "$REDIS_LOG"
      die "$REDIS_NAME: redis-server failed to start (config: $REDIS_CONF)"
    fi
    started=yes
  fi
  deadline=$(( SECONDS + WAIT_SECS ))
  until redis_answers; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      show_log_tail "$REDIS_NAME" "$REDIS_HOME/redis.out" "$REDIS_LOG"
      die "$REDIS_NAME: no PONG from $HOST:$REDIS_PORT within ${WAIT_SECS}s (log: $REDIS_LOG)"
    fi
    if [ "$started" = yes ] && [ "$SECONDS" -gt $(( deadline - WAIT_SECS + 5 )) ] && ! redis_pid >/dev/null; then
      show_log_tail "$REDIS_NAME" "$REDIS_HOME/redis.out" "$REDIS_LOG"
      die "$REDIS_NAME: the server exited during startup (log: $REDIS_LOG)"
    fi
    sleep 0.2
  done
  local d2=$(( SECONDS + 10 ))
  until pid=$(read_pid "$REDIS_PIDFILE") && is_our_redis "$pid"; do   # written by the daemon
    [ "$SECONDS" -lt "$d2" ] || die "$REDIS_NAME: answers on $HOST:$REDIS_PORT but $REDIS_PIDFILE does not point at it"
    sleep 0.1
  done
  if [ "$started" = yes ]; then
    say "$REDIS_NAME: ready at $HOST:$REDIS_PORT (pid $pid) in $(elapsed "$t0")"
  else
    say "$REDIS_NAME: already running at $HOST:$REDIS_PORT (pid $pid)"
  fi
}

redis_stop() {
  local pid
  if pid=$(redis_pid); then
    stop_pid "$REDIS_NAME" "$pid"
  elif [ -f "$REDIS_PIDFILE" ]; then
    say "$REDIS_NAME: not running (removing stale pid file)"
  else
    say "$REDIS_NAME: not running"
  fi
  rm -f "$REDIS_PIDFILE"
}

# ----------------------------------------------------------------------------------------------
# prometheus

is_our_prometheus() {  # live prometheus running our rendered config
  local cmd; cmd=$(proc_cmdline "$1") || return 1
  case "$cmd" in *prometheus*"--config.file=$PROM_CONF"*) return 0;; *) return 1;; esac
}

prom_pid() {
  local pid
  if pid=$(read_pid "$PROM_PIDFILE") && is_our_prometheus "$pid"; then printf '%s' "$pid"; return 0; fi
  return 1
}

prom_answers() { timeout 3 "$PYTHON_BIN" -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=2)" "$PROMETHEUS_URL/-/ready" >/dev/null 2>&1; }

prom_up() {
  local t0 pid deadline
  t0=$(now)
  mkdir -p "$PROM_TARGETS" "$RUN_DIR"
  render "$PROM_CONF_IN" "$PROM_CONF" "TARGETS=$PROM_TARGETS" "ALERTS=$SCRIPT_DIR/alerts.yml"
  if pid=$(prom_pid); then
    say "prometheus: already running at $PROMETHEUS_URL (pid $pid)"
    return 0
  fi
  if port_open "$PROM_PORT"; then
    die "prometheus: port $HOST:$PROM_PORT is already in use by another process (not started by this stack). Stop it or choose another port with PAYSTREAM_PROMETHEUS_PORT."
  fi
  rotate_log "$PROM_LOG"
  say "prometheus: starting..."
  # As Kafka's: the child shell writes its own pid, then execs prometheus in its own session.
  (
    cd "$PROM_HOME"
    exec setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$PROM_PIDFILE" \
      prometheus "--config.file=$PROM_CONF" "--storage.tsdb.path=$PROM_HOME/data" \
      "--storage.tsdb.retention.time=2d" "--web.listen-address=$HOST:$PROM_PORT"
  ) </dev/null >>"$PROM_LOG" 2>&1 9>&- &
  local waited=0
  until [ -s "$PROM_PIDFILE" ] || [ "$waited" -ge 50 ]; do sleep 0.1; waited=$(( waited + 1 )); done
  deadline=$(( SECONDS + WAIT_SECS ))
  until prom_answers; do
    if ! pid=$(prom_pid); then
      show_log_tail prometheus "$PROM_LOG"
      die "prometheus: exited during startup (log: $PROM_LOG)"
    fi
    [ "$SECONDS" -lt "$deadline" ] || die "prometheus: not ready at $PROMETHEUS_URL within ${WAIT_SECS}s (log: $PROM_LOG)"
    sleep 0.2
  done
  say "prometheus: ready at $PROMETHEUS_URL (pid $(prom_pid)) in $(elapsed "$t0")"
}

prom_stop() {
  local pid
  if pid=$(prom_pid); then stop_pid prometheus "$pid"; else say "prometheus: not running"; fi
  rm -f "$PROM_PIDFILE"
}

# ----------------------------------------------------------------------------------------------
# commands

print_env() {
  printf 'export KAFKA_BOOTSTRAP_SERVERS=%s\n' "$KAFKA_BOOTSTRAP_SERVERS"
  printf 'export DATABASE_URL=%s\n' "$DATABASE_URL"
  printf 'export REDIS_URL=%s\n' "$REDIS_URL"
  printf 'export NOTIFY_REDIS_URL=%s\n' "$NOTIFY_REDIS_URL"
  printf 'export PROMETHEUS_URL=%s\n' "$PROMETHEUS_URL"
  printf 'export PAYSTREAM_METRICS_TARGETS_DIR=%s\n' "$PROM_TARGETS"
}

cmd_up() {
  local t0; t0=$(now)
  # rc is assigned inside the trap's own text:
  # shellcheck disable=SC2154
  trap 'rc=$?; if [ "$rc" -ne 0 ]; then printf "%s: up failed; servers already started stay up (see %s status, stop them with %s down)\n" "$PROG" "$0" "$0" >&2; fi' EXIT
  cmd_install
  kafka_start          # launches the JVM in the background (slowest to boot) ...
  pg_up                # ... while PostgreSQL and Redis start
  redis_instance redis; redis_up
  redis_instance redis-notify; redis_up
  prom_up
  kafka_wait
  say ""
  say "paystream local stack is up ($(elapsed "$t0")); state in $STATE_DIR"
  say "  kafka     $KAFKA_BOOTSTRAP_SERVERS  (KRaft controller $HOST:$KAFKA_CONTROLLER_PORT, logs $KAFKA_LOGS)"
  say "            $HOST:$KAFKA_SASL_PORT SASL_SSL, SCRAM users per role (passwords in $SECRETS_DIR/kafka, CA $TLS_DIR/ca.crt)"
  say "  postgres  $HOST:$PG_PORT  (log $PG_LOG; roles of least privilege over TLS, passwords in $SECRETS_DIR/postgres)"
  say "  redis     $HOST:$STATE_REDIS_PORT  (account state; log $STATE_DIR/redis/redis.log)"
  say "  redis     $HOST:$NOTIFY_REDIS_PORT  (notifications; log $STATE_DIR/redis-notify/redis.log)"
  say "            TLS on $REDIS_TLS_PORT and $NOTIFY_REDIS_TLS_PORT, ACL users per role (passwords in $SECRETS_DIR/redis)"
  say "  prometheus $PROMETHEUS_URL  (scrapes the processes registered in $PROM_TARGETS)"
  say "Environment (eval \"\$($SCRIPT_PATH env)\"):"
  print_env | sed 's/^/  /'
  trap - EXIT
}

cmd_down() {
  prom_stop
  kafka_stop
  redis_instance redis-notify; redis_stop
  redis_instance redis; redis_stop
  pg_stop
}

cmd_one() {  # cmd_one stop|start SERVER
  if [ "$1" = start ]; then cmd_install >/dev/null; fi   # finds Java, pg_ctl and friends
  case "$2" in
    kafka)    if [ "$1" = stop ]; then kafka_stop; else kafka_start; kafka_wait; fi ;;
    postgres) if [ "$1" = stop ]; then pg_stop; else pg_up; fi ;;
    redis|redis-notify) redis_instance "$2"; if [ "$1" = stop ]; then redis_stop; else redis_up; fi ;;
    prometheus) if [ "$1" = stop ]; then prom_stop; else prom_up; fi ;;
    *) die "$1 what? one of: kafka, postgres, redis, redis-notify, prometheus" ;;
  esac
}

cmd_status() {
  local pid all=0 note
  if pid=$(kafka_pid); then
    note=""; port_open "$KAFKA_PORT" || note=" (port not answering yet)"
    say "kafka:    running (pid $pid) at $KAFKA_BOOTSTRAP_SERVERS$note"
  else say "kafka:    stopped"; all=3; fi
  if pid=$(pg_pid); then
    note=""; port_open "$PG_PORT" || note=" (port not answering yet)"
    say "postgres: running (pid $pid) at $HOST:$PG_PORT$note"
  else say "postgres: stopped"; all=3; fi
  for instance in redis redis-notify; do
    redis_instance "$instance"
    if pid=$(redis_pid); then
      note=""; port_open "$REDIS_PORT" || note=" (port not answering yet)"
      say "$instance: running (pid $pid) at $HOST:$REDIS_PORT$note"
    else say "$instance: stopped"; all=3; fi
  done
  if pid=$(prom_pid); then say "prometheus: running (pid $pid) at $PROMETHEUS_URL"
  else say "prometheus: stopped"; all=3; fi
  return "$all"
}

usage() {
  cat <<EOF
usage: $0 {install|up|down|status|env}
  install  install what is missing (postgresql, redis-server, Java 17, Maven, chromium,
           prometheus, Kafka jars)
  up       install, then start Kafka, PostgreSQL, Redis and Prometheus if not running; wait until ready
  down     stop the servers started by 'up'
  status   show each server; exit 0 if all run, 3 otherwise
  env      print export lines: eval "\$($0 env)"
  stop S   stop one server S (kafka, postgres, redis, redis-notify, prometheus): outage tests
  start S  start one server S again
state: $STATE_DIR (PAYSTREAM_STATE_DIR)
ports: kafka $KAFKA_PORT, controller $KAFKA_CONTROLLER_PORT, kafka SASL_SSL $KAFKA_SASL_PORT,
       postgres $PG_PORT, redis $STATE_REDIS_PORT (TLS $REDIS_TLS_PORT), redis-notify
       $NOTIFY_REDIS_PORT (TLS $NOTIFY_REDIS_TLS_PORT), prometheus $PROM_PORT (PAYSTREAM_KAFKA_PORT,
       PAYSTREAM_KAFKA_CONTROLLER_PORT, PAYSTREAM_KAFKA_SASL_PORT, PAYSTREAM_PG_PORT,
       PAYSTREAM_REDIS_PORT, PAYSTREAM_REDIS_TLS_PORT, PAYSTREAM_NOTIFY_REDIS_PORT,
       PAYSTREAM_NOTIFY_REDIS_TLS_PORT, PAYSTREAM_PROMETHEUS_PORT)
tls and credentials: $TLS_DIR (CA ca.crt), $SECRETS_DIR/{kafka,postgres,redis}/<user>
EOF
}

main() {
  validate_port PAYSTREAM_KAFKA_PORT "$KAFKA_PORT"
  validate_port PAYSTREAM_KAFKA_CONTROLLER_PORT "$KAFKA_CONTROLLER_PORT"
  validate_port PAYSTREAM_PG_PORT "$PG_PORT"
  validate_port PAYSTREAM_REDIS_PORT "$REDIS_PORT"
  validate_port PAYSTREAM_NOTIFY_REDIS_PORT "$NOTIFY_REDIS_PORT"
  validate_port PAYSTREAM_KAFKA_SASL_PORT "$KAFKA_SASL_PORT"
  validate_port PAYSTREAM_REDIS_TLS_PORT "$REDIS_TLS_PORT"
  validate_port PAYSTREAM_NOTIFY_REDIS_TLS_PORT "$NOTIFY_REDIS_TLS_PORT"
  validate_port PAYSTREAM_PROMETHEUS_PORT "$PROM_PORT"
  case "${1:-}" in
    install) acquire_lock; cmd_install; say "install: done (nothing else missing)" ;;
    up)      acquire_lock; cmd_up ;;
    down)    acquire_lock; cmd_down ;;
    status)  cmd_status ;;
    env)     print_env ;;
    stop)    acquire_lock; cmd_one stop "${2:-}" ;;
    start)   acquire_lock; cmd_one start "${2:-}" ;;
    -h|--help|help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
