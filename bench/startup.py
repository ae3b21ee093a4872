"""Start-up cost: a one-check ``jobcheck run`` against importing the mandated libraries.

Runs, alternately and ROUNDS times each, in one invocation:

- ``python -c "import typer, pydantic, yaml"`` (what the mission mandates),
- the same import and one pydantic model of one field, built and used once (``import
  pydantic`` is lazy: the model machinery any use of pydantic needs is not in the first line),
- a Typer command of 5 options that does nothing (the floor of any Typer CLI), and
- ``python -m jobcheck run --no-color`` on a one-check ``command`` checklist (``true``)
  in a temporary folder,

and prints the median CPU (user + sys) of each, the ratio, and the median wall time. The CPU
counted is that of the command and of every process it starts, the watchdog included: this
script makes itself a child subreaper, so a descendant that outlives its parent (the watchdog
runs in its own session and sweeps after jobcheck exits) is reparented here and counted.

    .venv/bin/python bench/startup.py [--rounds 10] [--importtime] [--compare SRC]

``--compare SRC`` also runs the jobcheck whose package is in the folder SRC (``PYTHONPATH``;
e.g. ``git archive main src | tar -x -C /tmp/before``, then ``--compare /tmp/before/src``) in
the same alternation: before and after, measured side by side under the same load.

Bytecode is cached (in the temporary folder, ``PYTHONPYCACHEPREFIX``) as an installed wheel
has it: with ``PYTHONDONTWRITEBYTECODE=1`` an editable checkout compiles jobcheck's modules on
every start, which is not what a user's run costs.

``--importtime`` also prints the top cumulative imports of one run (``-X importtime``).

``--annotations`` also prints what Typer's parsing costs per kind of option annotation (the
pydantic ``TypeAdapter`` Typer builds for each option, first and repeated builds, in a fresh
interpreter): which annotation an option of ``run`` has barely matters once the first is built.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
CHECKLIST = (
    "version: 1\nname: one\nchecks:\n"
    '  - {id: a, kind: command, owner: "@me", with: {run: "true"}}\n'
)
LIBRARIES = [sys.executable, "-c", "import typer, pydantic, yaml"]
JOBCHECK = [sys.executable, "-m", "jobcheck", "run", "--no-color"]
ONE_MODEL = [
    sys.executable,
    "-c",
    "import typer, pydantic, yaml\nclass M(pydantic.BaseModel):\n    x: int\nM(x=1)\n",
]
# The floor of any Typer CLI: a command of 5 options that does nothing. Typer (0.29) builds a
# pydantic TypeAdapter per option when it parses, which imports pydantic's models, its plugin
# loader and importlib.metadata: costs `import typer, pydantic, yaml` does not show.
TYPER_FLOOR = [
    sys.executable,
    "-c",
    "from pathlib import Path\nimport typer, yaml\napp = typer.Typer()\n@app.command()\n"
    "def run(checklist: Path = Path('x'), jobs: int = 0, only: list[str] = [], "
    "color: str = 'auto', plain: bool = False) -> None:\n    pass\napp(['--jobs', '2'])\n",
]
REAP_DEADLINE_S = 15.0
# Typer's cost per annotation kind: the adapter it builds when it parses an option's value.
ANNOTATIONS = """
import enum, sys, time
from pathlib import Path
from typing import Literal
import typer, pydantic, yaml
from typer.models import OptionInfo
t = time.process_time()
from typer._adapters import try_build_adapter
try_build_adapter(bool, OptionInfo())
print(f"  {(time.process_time() - t) * 1e3:6.2f} ms  import typer._adapters and build a first one")
class Color(enum.StrEnum):
    auto = "auto"
    never = "never"
kinds = {
    "str": (str, {}), "Path": (Path, {}), "int": (int, {}), "int, min=1": (int, {"min": 1}),
    "list[str]": (list[str], {}), "StrEnum": (Color, {"case_sensitive": False}),
    "Literal": (Literal["auto", "never"], {"case_sensitive": False}),
}
for name, (annotation, extra) in kinds.items():
    t = time.process_time()
    try_build_adapter(annotation, OptionInfo(**extra))
    first = time.process_time() - t
    t = time.process_time()
    for _ in range(100):
        try_build_adapter(annotation, OptionInfo(**extra))
    again = (time.process_time() - t) / 100
    print(f"  {first * 1e3:6.2f} ms  first {name} (then {again * 1e3:.2f} ms each)")
"""


def _subreaper() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _reap_orphans() -> None:
    """Wait for the descendants reparented to us (the watchdog), within a deadline."""
    deadline = time.monotonic() + REAP_DEADLINE_S
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.005)
    raise SystemExit("a descendant did not exit within 15 s")


def measure(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """CPU seconds (user + sys, descendants included) and wall seconds of one run."""
    before = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, timeout=120)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{argv} exited {done.returncode}: {done.stdout!r} {done.stderr!r}")
    _reap_orphans()
    return _children_cpu() - before, wall


def importtime(cwd: Path, env: dict[str, str], top: int) -> list[tuple[int, str]]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *JOBCHECK[1:]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = (part.strip() for part in line[len("import time:") :].split("|"))
        rows.append((int(cumulative), name))
    with contextlib.suppress(ChildProcessError):
        _reap_orphans()
    return sorted(rows, reverse=True)[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--importtime", action="store_true")
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--compare", type=Path, help="another jobcheck's src folder")
    parser.add_argument("--annotations", action="store_true")
    args = parser.parse_args()
    counted = _subreaper()
    dropped = ("CI", "GITHUB_ACTIONS", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    with tempfile.TemporaryDirectory(prefix="jc-startup-") as folder:
        cwd = Path(folder)
        # Bytecode cached as an installed wheel has it, in the temporary folder (not the tree)
        env["PYTHONPYCACHEPREFIX"] = str(cwd / "pycache")
        (cwd / "jobcheck.yaml").write_text(CHECKLIST, encoding="utf-8")
        commands = [
            ("libraries", LIBRARIES, env),
            ("one-model", ONE_MODEL, env),
            ("typer-floor", TYPER_FLOOR, env),
            ("jobcheck", JOBCHECK, env),
        ]
        if args.compare is not None:
            other = {**env, "PYTHONPATH": str(args.compare.resolve())}
            commands.append(("compared", JOBCHECK, other))
        for _, argv, environ in commands:  # warm the page cache and the bytecode
            measure(argv, cwd, environ)
        cpu: dict[str, list[float]] = {name: [] for name, _, _ in commands}
        wall: dict[str, list[float]] = {name: [] for name, _, _ in commands}
        for _ in range(args.rounds):
            for name, argv, environ in commands:
                used, took = measure(argv, cwd, environ)
                cpu[name].append(used)
                wall[name].append(took)
        libs = statistics.median(cpu["libraries"])
        print(f"rounds: {args.rounds}, alternating; watchdog counted: {counted}")
        labels = {
            "libraries": "import typer, pydantic, yaml",
            "one-model": "the same and one pydantic model of one field",
            "typer-floor": "a Typer command of 5 options that does nothing",
            "jobcheck": "jobcheck run (one command check)",
            "compared": f"jobcheck run from {args.compare}",
        }
        for name, _, _ in commands:
            median = statistics.median(cpu[name])
            print(
                f"{labels[name]}: {median:.3f} s CPU (median; min {min(cpu[name]):.3f}), "
                f"{statistics.median(wall[name]):.3f} s wall; ratio {median / libs:.2f}x "
                f"(of the minima {min(cpu[name]) / min(cpu['libraries']):.2f}x)"
            )
        if args.annotations:
            print("Typer's adapter per option annotation (CPU, one fresh interpreter):")
            done = subprocess.run(
                [sys.executable, "-c", ANNOTATIONS],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            print(done.stdout + done.stderr, end="")
        if args.importtime:
            for name, _, environ in commands[3:]:
                print(f"{name}: top cumulative imports of `python -X importtime -m jobcheck run`:")
                for micros, module in importtime(cwd, environ, args.top):
                    print(f"  {micros / 1000:>6.1f} ms  {module}")


if __name__ == "__main__":
    main()
