#!/usr/bin/env bash
# Build the offline base images used where no image registry is reachable: Debian bookworm
# rootfs trees (debootstrap, minbase + a few packages) imported into the engine.
#
#   bash scripts/base-images.sh             the base image only (what stack-images.sh runs)
#   bash scripts/base-images.sh rabbitmq    the RabbitMQ image only
#   bash scripts/base-images.sh base rabbitmq
#
# base:     jobcheck/base:bookworm     python3, python3-venv, redis-server, ca-certificates;
#           BASE_IMAGE and REDIS_IMAGE of the stacks under docker/.
# rabbitmq: jobcheck/rabbitmq:bookworm rabbitmq-server (Erlang); RABBITMQ_IMAGE of
#           docker/celery/overrides/amqp.yaml.
#
# Each is cached at three levels, cheapest first:
#   1. the image already exists in the engine          -> nothing to do
#   2. $JOBCHECK_CACHE/<tarball> (a finished rootfs)    -> docker import only
#   3. otherwise debootstrap (about a minute), write the tarball, import it
# Two runs building the same tarball take turns (flock, at most $LOCK_WAIT_S).
#
# Env: JOBCHECK_BASE_IMAGE     (default jobcheck/base:bookworm)
#      JOBCHECK_RABBITMQ_IMAGE (default jobcheck/rabbitmq:bookworm)
#      JOBCHECK_CACHE          (default /var/cache/jobcheck)
#      DEBIAN_SUITE            (default bookworm)
#      LOCK_WAIT_S             (default 900)
set -euo pipefail

CACHE="${JOBCHECK_CACHE:-/var/cache/jobcheck}"
SUITE="${DEBIAN_SUITE:-bookworm}"
LOCK_WAIT_S="${LOCK_WAIT_S:-900}"

# name -> image, packages, files the rootfs must have, tarball
declare -A IMAGE=(
    [base]="${JOBCHECK_BASE_IMAGE:-jobcheck/base:bookworm}"
    [rabbitmq]="${JOBCHECK_RABBITMQ_IMAGE:-jobcheck/rabbitmq:bookworm}"
)
declare -A PACKAGES=(
    [base]="python3,python3-venv,redis-server,ca-certificates"
    [rabbitmq]="rabbitmq-server"
)
declare -A MUST_HAVE=(
    [base]="usr/bin/python3 usr/bin/redis-server"
    [rabbitmq]="usr/sbin/rabbitmq-server usr/lib/erlang/bin/erl"
)
declare -A TARBALL=(
    [base]="$CACHE/$SUITE.tar"
    [rabbitmq]="$CACHE/$SUITE-rabbitmq.tar"
)

log() { printf 'base-images: %s\n' "$*" >&2; }
die() { printf 'base-images: error: %s\n' "$*" >&2; exit 1; }

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

ensure_debootstrap() {
    command -v debootstrap >/dev/null 2>&1 && return 0
    log "installing debootstrap through apt"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends debootstrap >/dev/null \
        || { apt-get update -qq && apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }
}

# Drop what an image does not need: package caches, lists, docs. Keeps the tarball ~40% smaller.
trim_rootfs() {
    local dir="$1"
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* \
        "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/info/* \
        "$dir"/var/log/*.log "$dir"/tmp/* "$dir"/etc/resolv.conf "$dir"/etc/hostname
}

build_tarball() {
    local name="$1" packages="${PACKAGES[$1]}" tarball="${TARBALL[$1]}" file
    local rootfs="${tarball%.tar}.rootfs" debootstrap_log="${tarball%.tar}.debootstrap.log"
    # The base image keeps the folder and log names it always had.
    if [ "$name" = base ]; then
        rootfs="$CACHE/rootfs-$SUITE"
        debootstrap_log="$CACHE/debootstrap.log"
    fi
    ensure_debootstrap
    # A half-finished rootfs from an interrupted run is not trusted: start over.
    rm -rf "$rootfs"
    mkdir -p "$CACHE"
    log "debootstrap $SUITE (minbase + $packages) into $rootfs"
    local start=$SECONDS
    # One retry: a mirror hiccup on a fresh machine should not fail the whole CI run.
    if ! debootstrap --variant=minbase --include="$packages" "$SUITE" "$rootfs" \
        >"$debootstrap_log" 2>&1; then
        log "debootstrap failed; retrying once from scratch (log: $debootstrap_log)"
        rm -rf "$rootfs"
        debootstrap --variant=minbase --include="$packages" "$SUITE" "$rootfs" \
            >"$debootstrap_log" 2>&1 \
            || { tail -n 20 "$debootstrap_log" >&2; die "debootstrap failed twice (log: $debootstrap_log)"; }
    fi
    log "debootstrap done in $((SECONDS - start))s"
    for file in ${MUST_HAVE[$name]}; do
        [ -e "$rootfs/$file" ] || die "rootfs lacks /$file"
    done
    trim_rootfs "$rootfs"
    tar --numeric-owner -C "$rootfs" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$rootfs"
    log "rootfs cached at $tarball ($(du -h "$tarball" | cut -f1))"
}

import_image() {
    local name="$1" start=$SECONDS
    docker import \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["/bin/bash"]' \
        --message "debootstrap $SUITE minbase + ${PACKAGES[$name]}" \
        "${TARBALL[$name]}" "${IMAGE[$name]}" >/dev/null
    log "imported ${IMAGE[$name]} in $((SECONDS - start))s"
}

ensure_image() {
    local name="$1"
    if have_image "${IMAGE[$name]}"; then
        log "${IMAGE[$name]} already present"
        return 0
    fi
    mkdir -p "$CACHE"
    # One builder per tarball; whoever waited finds the tarball (or the image) ready.
    exec {lock}>"${TARBALL[$name]}.lock"
    flock -w "$LOCK_WAIT_S" "$lock" \
        || die "another run has been building ${TARBALL[$name]} for over ${LOCK_WAIT_S}s"
    if ! have_image "${IMAGE[$name]}"; then
        [ -s "${TARBALL[$name]}" ] || build_tarball "$name"
        import_image "$name"
    fi
    exec {lock}>&-
}

main() {
    local names=("$@") name
    [ "${#names[@]}" -gt 0 ] || names=(base)
    for name in "${names[@]}"; do
        [ -n "${IMAGE[$name]+x}" ] || die "unknown image '$name' (known: ${!IMAGE[*]})"
    done
    docker info >/dev/null 2>&1 || die "Docker engine unreachable (run scripts/engine.sh first)"
    for name in "${names[@]}"; do
        ensure_image "$name"
    done
}

main "$@"
