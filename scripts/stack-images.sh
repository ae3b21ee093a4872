#!/usr/bin/env bash
# Decide which base images the staging stack builds on, and prepare everything the offline
# build needs. Writes docker/.env (read by docker-compose from the compose file's folder):
#   public images present (or pulled, with JOBCHECK_PULL=1)
#                                     -> BASE_IMAGE=python:3.11-slim, REDIS_IMAGE=redis:7-alpine
#   otherwise                         -> both jobcheck/base:bookworm (scripts/base-images.sh)
# Also downloads the Python wheels (scripts/wheels.sh). Prints the chosen lines on stdout.
#
# Env: JOBCHECK_IMAGES=public|offline  force a choice (default: auto)
#      JOBCHECK_PULL=1                  try `docker pull` for missing public images (default:
#                                       no pull, so an offline machine sends nothing out)
#      PULL_TIMEOUT_S (default 60)      bound on each `docker pull` attempt
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SCRIPTS="$ROOT/scripts"
ENV_FILE="$ROOT/docker/.env"
PUBLIC_BASE="python:3.11-slim"
PUBLIC_REDIS="redis:7-alpine"
OFFLINE_IMAGE="${JOBCHECK_BASE_IMAGE:-jobcheck/base:bookworm}"
PULL_TIMEOUT_S="${PULL_TIMEOUT_S:-60}"

log() { printf 'stack-images: %s\n' "$*" >&2; }

have_or_pull() {
    local image="$1"
    docker image inspect "$image" >/dev/null 2>&1 && return 0
    [ "${JOBCHECK_PULL:-0}" = 1 ] || return 1
    log "pulling $image (at most ${PULL_TIMEOUT_S}s)"
    timeout "$PULL_TIMEOUT_S" docker pull --quiet "$image" >/dev/null 2>&1
}

choose() {
    case "${JOBCHECK_IMAGES:-auto}" in
        public) echo public; return ;;
        offline) echo offline; return ;;
    esac
    if have_or_pull "$PUBLIC_BASE" && have_or_pull "$PUBLIC_REDIS"; then
        echo public
    else
        log "public images unavailable: using the offline image $OFFLINE_IMAGE"
        echo offline
    fi
}

write_env() {
    local base="$1" redis="$2"
    {
        echo "# Written by scripts/stack-images.sh: the base images this machine builds on."
        echo "BASE_IMAGE=$base"
        echo "REDIS_IMAGE=$redis"
    } >"$ENV_FILE.tmp"
    mv "$ENV_FILE.tmp" "$ENV_FILE"
    printf 'BASE_IMAGE=%s\nREDIS_IMAGE=%s\n' "$base" "$redis"
}

main() {
    bash "$SCRIPTS/engine.sh"
    bash "$SCRIPTS/wheels.sh"
    if [ "$(choose)" = public ]; then
        write_env "$PUBLIC_BASE" "$PUBLIC_REDIS"
    else
        bash "$SCRIPTS/base-images.sh"
        write_env "$OFFLINE_IMAGE" "$OFFLINE_IMAGE"
    fi
}

main "$@"
