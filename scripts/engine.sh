#!/usr/bin/env bash
# Make sure a Docker engine answers `docker info` and both Compose CLIs are there: install
# through apt what is missing (docker.io; docker-compose, Compose v1, with python3-paramiko,
# which v1 needs for DOCKER_HOST=ssh://), the Compose v2 plugin (scripts/compose-plugin.sh),
# start dockerd in the background, wait for it with a deadline.
# Idempotent and quick when everything is there and the engine answers.
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
    # Another install running (a second script, unattended upgrades): wait for its lock.
    local wait=(-o DPkg::Lock::Timeout=300)
    apt-get install "${wait[@]}" -y -qq --no-install-recommends "$@" >/dev/null \
        || { apt-get update -qq \
            && apt-get install "${wait[@]}" -y -qq --no-install-recommends "$@" >/dev/null; }
}

# The interpreter docker-compose v1 runs on (Debian's: /usr/bin/python3), from its #! line.
compose_v1_python() {
    local v1 shebang
    v1="$(command -v docker-compose 2>/dev/null)" || { echo /usr/bin/python3; return; }
    shebang="$(head -n1 "$v1" 2>/dev/null)"
    case "$shebang" in
        '#!'*python*) echo "${shebang#\#!}" ;;
        *) echo "" ;;  # a binary (a v2 symlinked as docker-compose): no paramiko needed
    esac
}

has_paramiko() {
    local python
    python="$(compose_v1_python)"
    [ -z "$python" ] || $python -c 'import paramiko' >/dev/null 2>&1
}

# Needed: the engine and its client. Wanted: Compose v1 and paramiko (the v1 tests, and
# ssh:// engines through v1); without root they are only reported.
install_missing() {
    local needed=() wanted=()
    if ! engine_up && { ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; }
    then
        needed+=(docker.io)
    fi
    command -v docker-compose >/dev/null 2>&1 || wanted+=(docker-compose)
    if ! has_paramiko; then
        case "$(compose_v1_python)" in
            /usr/bin/python3*) wanted+=(python3-paramiko) ;;
            *) log "warning: $(compose_v1_python) (docker-compose's) has no paramiko, which ssh:// engines need: pip install paramiko into it" ;;
        esac
    fi
    [ "$((${#needed[@]} + ${#wanted[@]}))" -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        [ "${#needed[@]}" -eq 0 ] \
            || die "missing ${needed[*]} ${wanted[*]}; install as root: apt-get install -y \
docker.io docker-compose python3-paramiko"
        log "warning: missing ${wanted[*]} (Compose v1 / ssh:// through v1); install as root: \
apt-get install -y ${wanted[*]}"
        return 0
    fi
    log "installing ${needed[*]} ${wanted[*]} through apt"
    apt_install "${needed[@]}" "${wanted[@]}"
    if [[ " ${wanted[*]} " == *" python3-paramiko "* ]] && ! has_paramiko; then
        die "docker-compose's Python ($(compose_v1_python)) still has no paramiko"
    fi
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
    install_missing
    bash "$(dirname "${BASH_SOURCE[0]}")/compose-plugin.sh"
    if engine_up; then
        log "engine already answering"
        return 0
    fi
    start_dockerd
    wait_for_engine
    log "engine ready ($(docker info --format '{{.ServerVersion}} {{.Driver}}' 2>/dev/null))"
}

main "$@"
