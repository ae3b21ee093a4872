#!/usr/bin/env bash
# Make sure a Docker engine answers `docker info`: install docker.io + docker-compose through
# apt when missing, start dockerd in the background, wait for it with a deadline.
# Idempotent: exits 0 at once when the engine already answers.
#
# Env: ENGINE_WAIT_S (default 60)   how long to wait for `docker info`
#      DOCKERD_LOG   (default /var/log/jobcheck-dockerd.log)
set -euo pipefail

ENGINE_WAIT_S="${ENGINE_WAIT_S:-60}"
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/jobcheck-dockerd.log}"

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
    command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
    command -v docker >/dev/null 2>&1 || missing+=(docker.io)
    command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 \
        || missing+=(docker-compose)
    [ "${#missing[@]}" -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "missing ${missing[*]}; install them as root (apt-get install -y docker.io docker-compose)"
    log "installing ${missing[*]} through apt"
    apt_install $(printf '%s\n' "${missing[@]}" | sort -u)
}

start_dockerd() {
    if pgrep -x dockerd >/dev/null 2>&1; then
        log "dockerd is running but not answering yet; waiting"
        return 0
    fi
    [ "$(id -u)" -eq 0 ] || die "dockerd is not running and only root can start it here (try: sudo $0)"
    mkdir -p "$(dirname "$DOCKERD_LOG")"
    log "starting dockerd (log: $DOCKERD_LOG)"
    # setsid: dockerd must outlive this script and the shell that ran it.
    setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
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
