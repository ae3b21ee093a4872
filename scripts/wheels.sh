#!/usr/bin/env bash
# Download the images' Python dependencies as wheels into docker/wheels/, for the images'
# interpreter: CPython 3.11 on linux x86_64. Every requirements file under docker/ counts:
#   docker/requirements.txt                 the RQ demo service
#   docker/celery/requirements.txt          the Celery stack
#   docker/samples/*/requirements.txt       the sample apps
# Each file is resolved on its own (their pins may differ, e.g. python-dateutil), into one
# shared folder. The Dockerfiles install with `pip install --no-index --find-links`, so image
# builds never need the network. Skipped when docker/wheels/ already matches every
# requirements file (stamp file).
#
# Env: PIP (default: python3 -m pip, else .venv's)   the host pip used to download
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WHEELS="$ROOT/docker/wheels"
STAMP="$WHEELS/.complete"
PLATFORM_ARGS=(--only-binary=:all: --python-version 3.11 --implementation cp --abi cp311
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64)
# A fresh Debian has no system pip: then the project's venv (`make setup`) lends its own.
if [ -z "${PIP:-}" ] && ! python3 -m pip --version >/dev/null 2>&1 && [ -x "$ROOT/.venv/bin/python" ]
then
    PIP="$ROOT/.venv/bin/python -m pip"
fi
read -r -a PIP_CMD <<<"${PIP:-python3 -m pip}"

log() { printf 'wheels: %s\n' "$*" >&2; }
die() { printf 'wheels: error: %s\n' "$*" >&2; exit 1; }

# Relative paths, sorted: the stamp must not depend on where the checkout lives.
requirements_files() {
    (cd "$ROOT" && find docker -maxdepth 3 -name requirements.txt -not -path 'docker/wheels*' \
        | LC_ALL=C sort)
}

fingerprint() {
    local file
    {
        while read -r file; do
            printf '== %s\n' "$file"
            cat "$ROOT/$file"
        done < <(requirements_files)
        printf '%s\n' "${PLATFORM_ARGS[@]}"
    } | sha256sum | cut -d' ' -f1
}

main() {
    local want file
    want="$(fingerprint)"
    if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
        log "docker/wheels/ up to date ($(find "$WHEELS" -name '*.whl' | wc -l) wheels)"
        return 0
    fi
    "${PIP_CMD[@]}" --version >/dev/null 2>&1 || die "no pip on the host (tried: ${PIP_CMD[*]})"
    # Download into a fresh folder and swap it in: no stale wheels, no half-done folder.
    local tmp="$WHEELS.tmp"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    while read -r file; do
        log "downloading wheels of $file for CPython 3.11 linux x86_64"
        "${PIP_CMD[@]}" download --quiet --disable-pip-version-check --no-cache-dir \
            "${PLATFORM_ARGS[@]}" -r "$ROOT/$file" -d "$tmp" \
            2> >(grep -v 'is ignored: it is neither' >&2) \
            || die "pip download failed for $file"
    done < <(requirements_files)
    echo "$want" >"$tmp/.complete"
    rm -rf "$WHEELS"
    mv "$tmp" "$WHEELS"
    log "docker/wheels/ ready ($(find "$WHEELS" -name '*.whl' | wc -l) wheels, $(du -sh "$WHEELS" | cut -f1))"
}

main "$@"
