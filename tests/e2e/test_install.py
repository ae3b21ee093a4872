"""`python -m build` makes an sdist and a wheel; the wheel installed into a fresh venv gives a
working `jobcheck` (the one from the wheel, not this checkout). Offline: the build runs without
isolation, and the fresh venv finds jobcheck's dependencies through a .pth to this environment's
site-packages (a plain path: the editable install's hook there does not run). Each extra alone,
in a venv that sees nothing of this one, with real brokers: test_extras.py."""

from __future__ import annotations

import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest
from clean_install import sh

from jobcheck import __version__

SAMPLE = """\
version: 1
name: sample service
defaults: {owner: "@team", expect: it works, rollback: revert the change}
checks:
  - {id: hello, kind: command, with: {run: "echo hello"}}
"""


@pytest.mark.slow
def test_build_then_install_the_wheel_into_a_fresh_venv(
    tmp_path: Path, jobcheck_wheel: Path
) -> None:
    wheel = jobcheck_wheel
    (sdist,) = wheel.parent.glob("jobcheck-*.tar.gz")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = archive.read(f"jobcheck-{__version__}.dist-info/entry_points.txt").decode()
    assert {"jobcheck/py.typed", "jobcheck/__main__.py", "jobcheck/kinds/http.py"} <= names
    assert "jobcheck = jobcheck.__main__:main" in entry_points
    with tarfile.open(sdist) as archive:
        assert f"jobcheck-{__version__}/README.md" in archive.getnames()

    venv = tmp_path / "fresh"
    sh(sys.executable, "-m", "venv", "--without-pip", venv)
    (site,) = venv.glob("lib/python*/site-packages")
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    sh(sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q",
       "--no-deps", wheel)  # fmt: skip

    jobcheck = venv / "bin" / "jobcheck"
    assert sh(jobcheck, "--version") == f"jobcheck {__version__}\n"
    where = sh(venv / "bin" / "python", "-c", "import jobcheck; print(jobcheck.__file__)")
    assert where.startswith(str(site)), where  # the wheel's jobcheck, not this checkout
    service = tmp_path / "service"
    service.mkdir()
    (service / "jobcheck.yaml").write_text(SAMPLE)
    assert sh(jobcheck, "validate", cwd=service).startswith("sample service: 1 checks, valid")
    assert "PASSED: sample service" in sh(jobcheck, "run", "--no-color", cwd=service)
