#!/usr/bin/env bash
# Installs the real services that the tests start themselves (redis-server, and OpenSSH's
# sshd for the remote-engine tests, from Debian's packages). Idempotent and quiet: nothing is
# installed when the binary is already
# there. The system service is never started or enabled: each test starts its own server on
# 127.0.0.1 with a password and a free port, and kills it at the end.
set -euo pipefail

APT_TIMEOUT_S=${APT_TIMEOUT_S:-600}

have() { command -v "$1" >/dev/null 2>&1; }

apt_install() {
    if ! have apt-get; then
        echo "host-services: apt-get not found; install $* with this system's package manager" >&2
        return 1
    fi
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    # policy-rc.d answering 101 keeps Debian's postinst from starting the service it installs.
    local policy=/usr/sbin/policy-rc.d created_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
        $sudo chmod +x "$policy"
        created_policy=1
    fi
    local rc=0
    export DEBIAN_FRONTEND=noninteractive
    timeout "$APT_TIMEOUT_S" $sudo apt-get update -qq >/dev/null || rc=$?
    if [ "$rc" -eq 0 ]; then
        timeout "$APT_TIMEOUT_S" $sudo apt-get install -y -qq --no-install-recommends "$@" \
            >/dev/null || rc=$?
    fi
    [ "$created_policy" -eq 0 ] || $sudo rm -f "$policy"
    if [ "$rc" -ne 0 ]; then
        echo "host-services: apt-get install $* failed (exit $rc)" >&2
    fi
    return "$rc"
}

# redis-server lives in /usr/bin; the check also finds one on PATH (a developer's own build).
# Silent when there is nothing to do.
if ! have redis-server; then
    apt_install redis-server
    echo "host-services: installed $(redis-server --version | cut -d' ' -f1-3)"
fi

# sshd (openssh-server) for DOCKER_HOST=ssh:// tests; see scripts/openssh.sh.
# shellcheck source=scripts/openssh.sh
source "$(dirname "${BASH_SOURCE[0]}")/openssh.sh"
