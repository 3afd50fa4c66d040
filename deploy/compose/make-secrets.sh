#!/usr/bin/env bash
# Random passwords for deploy/compose, written once into deploy/compose/secrets/ (git-ignored);
# an existing file is kept, so running it again changes nothing.
set -euo pipefail
cd "$(dirname "$0")"
# The folder keeps other users of this host out; the files themselves must be readable by the
# containers' own users (paystream 10001, postgres, grafana 472, redis), because compose without
# Swarm bind-mounts a file secret with the host file's owner and mode.
mkdir -p secrets
chmod 700 secrets
put() { [ -s "secrets/$1" ] || printf '%s' "$2" > "secrets/$1"; chmod 644 "secrets/$1"; }
random() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }
put postgres_password "$(random)"
put redis_password "$(random)"
put partner_webhook_secret "$(random)"
put grafana_admin_password "$(random)"
for role in sink api analyst; do put "pg_${role}_password" "$(random)"; done
pg=$(<secrets/postgres_password) rd=$(<secrets/redis_password)
put database_url "postgresql://paystream:$pg@postgres:5432/paystream"   # the owner: init only
put database_url_sink "postgresql://paystream_sink:$(<secrets/pg_sink_password)@postgres:5432/paystream"
put database_url_api "postgresql://paystream_api:$(<secrets/pg_api_password)@postgres:5432/paystream"
put redis_url "redis://:$rd@redis:6379/0"
put notify_redis_url "redis://:$rd@redis-notify:6379/0"
put api_redis_url "redis://:$rd@redis-notify:6379/1"
echo "secrets in $(pwd)/secrets (Grafana: admin / $(<secrets/grafana_admin_password))"
