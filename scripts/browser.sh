#!/usr/bin/env bash
# Installs the headless browser the HTML report's tests drive (Debian's chromium, and a font so
# screenshots render text). Idempotent and quiet: nothing is installed when chromium is already
# there. The tests start it themselves, headless, with its own throwaway profile and with
# networking features off; the report is loaded from disk (file://).
set -euo pipefail

APT_TIMEOUT_S=${APT_TIMEOUT_S:-900}

have() { command -v "$1" >/dev/null 2>&1; }

if have chromium || have chromium-browser; then
    exit 0
fi
if ! have apt-get; then
    echo "browser: apt-get not found; install chromium with this system's package manager" >&2
    exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
rc=0
timeout "$APT_TIMEOUT_S" $sudo apt-get update -qq >/dev/null || rc=$?
if [ "$rc" -eq 0 ]; then
    timeout "$APT_TIMEOUT_S" $sudo apt-get install -y -qq --no-install-recommends \
        chromium fonts-dejavu-core >/dev/null || rc=$?
fi
if [ "$rc" -ne 0 ]; then
    echo "browser: apt-get install chromium failed (exit $rc)" >&2
    exit "$rc"
fi
echo "browser: installed $(chromium --version 2>/dev/null | head -1)"
