#!/usr/bin/env bash
# The whole test suite (`make test`), in parts at once: the Docker integration tests
# (tests/integration) mostly wait on containers, the rest (unit, end-to-end, fuzz) mostly use a
# CPU, so on two cores the suite takes about its longest part instead of the sum. The
# integration modules run as the groups of tests/integration/_groups.py, one pytest each, side
# by side: groups never share a compose project or a host port (tests/unit/
# test_integration_groups.py checks it), and image builds take turns (tests/integration/
# _compose.py's build lock). The unit/e2e/fuzz half uses compose projects and ports of its own.
# Exit status: 0 only when every part passes (pytest's 5, no tests, fails).
# Extra arguments go to every part.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}

groups=$("$PY" -c 'import runpy; print(*runpy.run_path("tests/integration/_groups.py")["GROUPS"])')
if [ -z "$groups" ]; then
    echo "test.sh: no integration groups in tests/integration/_groups.py" >&2
    exit 1
fi
declare -A pid log
trap 'rm -f "${log[@]}"' EXIT
for group in $groups; do
    log[$group]=$(mktemp "/tmp/jobcheck-integration-$group.XXXXXX.log")
    "$PY" -m pytest tests/integration --itest-group "$group" "$@" >"${log[$group]}" 2>&1 &
    pid[$group]=$!
done
"$PY" -m pytest tests/unit tests/e2e tests/fuzz "$@"
rest=$?
failed=$((rest != 0))
summary="unit/e2e/fuzz: pytest exit $rest"
for group in $groups; do
    wait "${pid[$group]}"
    status=$?
    [ "$status" -eq 0 ] || failed=1
    summary+="; integration $group: pytest exit $status"
    echo
    echo "=== tests/integration, group $group (ran alongside) ==="
    cat "${log[$group]}"
done
echo
echo "$summary"
[ "$failed" -eq 0 ]
