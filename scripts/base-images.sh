#!/usr/bin/env bash
# Build the offline base image used where no image registry is reachable:
# a Debian bookworm rootfs (debootstrap, minbase + python3, python3-venv, redis-server)
# imported into the engine as jobcheck/base:bookworm. It serves as both BASE_IMAGE and
# REDIS_IMAGE for docker/compose.yaml.
#
# Cached at three levels, cheapest first:
#   1. the image already exists in the engine          -> nothing to do
#   2. $JOBCHECK_CACHE/bookworm.tar (a finished rootfs) -> docker import only
#   3. otherwise debootstrap (about a minute), write the tarball, import it
#
# Env: JOBCHECK_BASE_IMAGE (default jobcheck/base:bookworm)
#      JOBCHECK_CACHE      (default /var/cache/jobcheck)
#      DEBIAN_SUITE        (default bookworm)
set -euo pipefail

IMAGE="${JOBCHECK_BASE_IMAGE:-jobcheck/base:bookworm}"
CACHE="${JOBCHECK_CACHE:-/var/cache/jobcheck}"
SUITE="${DEBIAN_SUITE:-bookworm}"
PACKAGES="python3,python3-venv,redis-server,ca-certificates"
TARBALL="$CACHE/$SUITE.tar"
ROOTFS="$CACHE/rootfs-$SUITE"

log() { printf 'base-images: %s\n' "$*" >&2; }
die() { printf 'base-images: error: %s\n' "$*" >&2; exit 1; }

have_image() { docker image inspect "$IMAGE" >/dev/null 2>&1; }

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
    ensure_debootstrap
    # A half-finished rootfs from an interrupted run is not trusted: start over.
    rm -rf "$ROOTFS"
    mkdir -p "$CACHE"
    log "debootstrap $SUITE (minbase + $PACKAGES) into $ROOTFS"
    local start=$SECONDS
    # One retry: a mirror hiccup on a fresh machine should not fail the whole CI run.
    if ! debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS" \
        >"$CACHE/debootstrap.log" 2>&1; then
        log "debootstrap failed; retrying once from scratch (log: $CACHE/debootstrap.log)"
        rm -rf "$ROOTFS"
        debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS" \
            >"$CACHE/debootstrap.log" 2>&1 \
            || { tail -n 20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed twice (log: $CACHE/debootstrap.log)"; }
    fi
    log "debootstrap done in $((SECONDS - start))s"
    if [ ! -x "$ROOTFS/usr/bin/python3" ] || [ ! -x "$ROOTFS/usr/bin/redis-server" ]; then
        die "rootfs lacks python3 or redis-server"
    fi
    trim_rootfs "$ROOTFS"
    tar --numeric-owner -C "$ROOTFS" -cf "$TARBALL.tmp" .
    mv "$TARBALL.tmp" "$TARBALL"
    rm -rf "$ROOTFS"
    log "rootfs cached at $TARBALL ($(du -h "$TARBALL" | cut -f1))"
}

import_image() {
    local start=$SECONDS
    docker import \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["/bin/bash"]' \
        --message "debootstrap $SUITE minbase + $PACKAGES" \
        "$TARBALL" "$IMAGE" >/dev/null
    log "imported $IMAGE in $((SECONDS - start))s"
}

main() {
    docker info >/dev/null 2>&1 || die "Docker engine unreachable (run scripts/engine.sh first)"
    if have_image; then
        log "$IMAGE already present"
        return 0
    fi
    [ -s "$TARBALL" ] || build_tarball
    import_image
}

main "$@"
