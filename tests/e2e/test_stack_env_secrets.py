"""The stack's env files hold secrets too (REDIS_PASSWORD in the `.env` Compose reads beside
the compose file, an API secret in `stack.env_file`): the one masker of a checklist
(``SecretSources.masker``) masks them in a run's output and reports, and in `explain`,
whether or not the checklist also lists the files under `env_files:`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REDIS_PASSWORD = "redis-Pw-884411"
API_SECRET = "api-Secret-Kiwi-2207"
DEBUG_FLAG = "verbose-mode-on"  # not secret-looking: must still show

CHECKLIST = textwrap.dedent(
    """\
    version: 1
    name: s
    stack: {compose: [docker/compose.yaml], project: p, env_file: docker/stack.env}
    checks:
      - id: leaky
        kind: command
        owner: "@o"
        expect: prints the stack's env files
        rollback: none
        with: {run: [sh, -c, "cat docker/.env docker/stack.env; exit 3"]}
    """
)


def test_the_stack_env_files_are_masked_in_run_and_explain(tmp_path: Path) -> None:
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "compose.yaml").write_text(
        "services:\n  redis:\n    image: redis\n    command: redis-server --requirepass "
        "${REDIS_PASSWORD}\n",
        encoding="utf-8",
    )
    (tmp_path / "docker" / ".env").write_text(
        f"REDIS_PASSWORD={REDIS_PASSWORD}\nDEBUG_FLAG={DEBUG_FLAG}\n", encoding="utf-8"
    )
    (tmp_path / "docker" / "stack.env").write_text(f"API_SECRET='{API_SECRET}'\n", encoding="utf-8")
    (tmp_path / "jobcheck.yaml").write_text(CHECKLIST, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_PASSWORD", "API_SECRET")}
    env["NO_COLOR"] = "1"

    def jobcheck(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "jobcheck", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    run = jobcheck("run", "--json", "out.json", "--no-color")
    assert run.returncode == 1, run.stdout + run.stderr
    report = (tmp_path / "out.json").read_text(encoding="utf-8")
    explain = jobcheck("explain", "leaky")
    outputs = {"run": run.stdout + run.stderr, "json": report, "explain": explain.stdout}
    for name, text in outputs.items():
        assert REDIS_PASSWORD not in text, name
        assert API_SECRET not in text, name
    assert DEBUG_FLAG in json.loads(report)["checks"][0]["output"]
    assert "REDIS_PASSWORD=***" in json.loads(report)["checks"][0]["output"]
