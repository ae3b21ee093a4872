"""Projects for ``jobcheck init`` to read: written from a dict, or copied from the samples in
tests/fixtures/projects/."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

SAMPLES = Path(__file__).parents[2] / "fixtures" / "projects"

Files = dict[str, str]


def write(root: Path, files: Files) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[[Files], Path]:
    """Write files (dedented) into tmp_path/project and return that folder."""

    def make(files: Files) -> Path:
        return write(tmp_path / "project", files)

    return make


@pytest.fixture
def sample(tmp_path: Path) -> Callable[[str], Path]:
    """Copy a sample project into tmp_path and return its copy."""

    def copy(name: str) -> Path:
        return Path(shutil.copytree(SAMPLES / name, tmp_path / name))

    return copy
