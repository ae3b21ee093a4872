#!/usr/bin/env bash
# Make sure a Docker engine answers `docker info`: install docker.io + docker-compose through
# apt when missing, start dockerd in the background, wait for it with a deadline.
# Idempotent: exits 0 at once when the engine already answers.
#
# Env: ENGINE_WAIT_S  (default 60)   how long to wait for `docker info`
#      DOCKERD_LOG    (default /var/log/jobcheck-dockerd.log)
#      DOCKERD_PIDFILE (default /var/run/docker.pid)
#      DOCKERD_EXEC_ROOT (default /var/run/docker)  where dockerd keeps containerd's pidfile
#      DOCKERD_ARGS   (default empty)  extra dockerd flags, split on spaces
set -euo pipefail

ENGINE_WAIT_S="${ENGINE_WAIT_S:-60}"
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/jobcheck-dockerd.log}"
DOCKERD_PIDFILE="${DOCKERD_PIDFILE:-/var/run/docker.pid}"
CONTAINERD_PIDFILE="${DOCKERD_EXEC_ROOT:-/var/run/docker}/containerd/containerd.pid"
read -r -a DOCKERD_EXTRA <<<"${DOCKERD_ARGS:-}"

log() { printf 'engine: %s\n' "$*" >&2; }
die() { printf 'engine: error: %s\n' "$*" >&2; exit 1; }

engine_up() { docker info >/dev/null 2>&1; }

apt_install() {
    # `apt-get update` only when the package lists are empty or the install fails without it.
    export DEBIAN_FRONTEND=noninteractive
    if ! compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null; then
        apt-get update -qq
    fi
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
        || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
}

install_missing() {
    local missing=()
    if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
        missing+=(docker.io)
    fi
    if ! command -v docker-compose >/dev/null 2>&1 && ! docker compose version >/dev/null 2>&1
    then
        missing+=(docker-compose)
    fi
    [ "${#missing[@]}" -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] \
        || die "missing ${missing[*]}; install as root: apt-get install -y docker.io docker-compose"
    log "installing ${missing[*]} through apt"
    apt_install "${missing[@]}"
}

# The pidfile names a live process called $2: not a stale file left by a killed daemon, not
# a zombie waiting to be reaped (dockerd takes both for a running daemon and waits on it).
pidfile_alive() {
    local pidfile="$1" name="$2" pid state
    pid="$(cat "$pidfile" 2>/dev/null)" || return 1
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] || return 1
    state="$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$pid/status" 2>/dev/null)"
    [ -n "$state" ] && [ "$state" != Z ]
}

dockerd_alive() { pidfile_alive "$DOCKERD_PIDFILE" dockerd; }

start_dockerd() {
    if dockerd_alive; then
        log "dockerd is running but not answering yet; waiting"
        return 0
    fi
    [ "$(id -u)" -eq 0 ] || die "dockerd is not running and only root can start it (try: sudo $0)"
    # A daemon killed hard leaves pidfiles behind: dockerd refuses to start on its own, and
    # waits (then gives up) on a containerd pidfile that names a dead or zombie process.
    rm -f "$DOCKERD_PIDFILE"
    pidfile_alive "$CONTAINERD_PIDFILE" containerd || rm -f "$CONTAINERD_PIDFILE"
    mkdir -p "$(dirname "$DOCKERD_LOG")"
    log "starting dockerd (log: $DOCKERD_LOG)"
    # setsid: dockerd must outlive this script and the shell that ran it.
    setsid nohup dockerd --pidfile "$DOCKERD_PIDFILE" "${DOCKERD_EXTRA[@]}" \
        >>"$DOCKERD_LOG" 2>&1 </dev/null &
}

wait_for_engine() {
    local deadline=$((SECONDS + ENGINE_WAIT_S))
    while [ "$SECONDS" -lt "$deadline" ]; do
        engine_up && return 0
        sleep 1
    done
    log "last lines of $DOCKERD_LOG:"
    tail -n 15 "$DOCKERD_LOG" >&2 2>/dev/null || true
    die "docker info still failing after ${ENGINE_WAIT_S}s (tried: dockerd in the background)"
}

main() {
    if engine_up; then
        log "engine already answering"
        return 0
    fi
    install_missing
    start_dockerd
    wait_for_engine
    log "engine ready ($(docker info --format '{{.ServerVersion}} {{.Driver}}' 2>/dev/null))"
}

main "$@"
