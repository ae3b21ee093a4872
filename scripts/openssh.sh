#!/usr/bin/env bash
# Installs OpenSSH's server (Debian's openssh-server) for the remote-engine tests: a test starts
# its own sshd on 127.0.0.1 with a throwaway host key and client key (key auth only), so that
# DOCKER_HOST=ssh://root@127.0.0.1:2222 reaches this machine's engine through a real ssh hop.
# Idempotent and quiet; the system's ssh service is never started or enabled (policy-rc.d).
# Sourced by host-services.sh (it provides apt_install and have).
set -euo pipefail

if [ -z "$(type -t apt_install 2>/dev/null)" ]; then
    echo "openssh.sh: run it through scripts/host-services.sh" >&2
    exit 2
fi

# sshd and the ssh client (the Docker SDK and docker-compose shell out to `ssh`), and
# ssh-keygen for the throwaway keys.
if [ ! -x /usr/sbin/sshd ] || ! have ssh || ! have ssh-keygen; then
    apt_install openssh-server openssh-client
    echo "host-services: installed $(/usr/sbin/sshd -V 2>&1 | head -n1)"
fi
