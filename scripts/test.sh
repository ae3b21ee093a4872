#!/usr/bin/env bash
# The whole test suite (`make test`), in two halves at once: the Docker integration tests
# (tests/integration) mostly wait on containers, the rest (unit, end-to-end, fuzz) mostly use a
# CPU, so on two cores the suite takes about its longer half instead of the sum. The halves use
# different compose projects and host ports (see tests/integration/conftest.py and each
# module's header). Exit status: 0 only when both halves pass (pytest's 5, no tests, fails).
# Extra arguments go to both halves.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
log=$(mktemp /tmp/jobcheck-integration.XXXXXX.log)
trap 'rm -f "$log"' EXIT

"$PY" -m pytest tests/integration "$@" >"$log" 2>&1 &
integration=$!
"$PY" -m pytest tests/unit tests/e2e tests/fuzz "$@"
rest=$?
wait "$integration"
docker_half=$?
echo
echo "=== tests/integration (ran alongside) ==="
cat "$log"
echo
echo "unit/e2e/fuzz: pytest exit $rest; integration: pytest exit $docker_half"
[ "$rest" -eq 0 ] && [ "$docker_half" -eq 0 ]
