#!/bin/sh
# Start redis-server with its configuration on stdin, so the password never appears in argv
# (`ps`, `docker inspect`). `exec` keeps redis-server as PID 1: `docker stop` reaches it.
set -eu
: "${REDIS_PASSWORD:?REDIS_PASSWORD must be set (see docker/staging.env)}"
exec redis-server - <<EOF
port 6379
requirepass "${REDIS_PASSWORD}"
# A job queue must refuse writes when full, never evict queued jobs.
maxmemory ${REDIS_MAXMEMORY:-200mb}
maxmemory-policy noeviction
# Queued jobs survive a restart: append-only file, fsync every second, no RDB snapshots.
dir /data
appendonly yes
appendfsync everysec
save ""
EOF
