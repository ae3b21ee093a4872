"""What every part of the checklist is written for: the project, the kinds this jobcheck
has (and their options), and the Compose command the rollback notes use."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from jobcheck.scaffold.detect import Project
from jobcheck.scaffold.draft import slug
from jobcheck.scaffold.topology import COMPOSE_NAMES

Capabilities = Mapping[str, frozenset[str]]  # kind -> the option names it accepts


@dataclass(frozen=True)
class Setting:
    project: Project
    kinds: Capabilities = field(default_factory=dict)
    compose_cli: str = "docker compose"

    def has(self, kind: str, *options: str) -> bool:
        """The kind exists here and accepts every one of ``options``."""
        accepted = self.kinds.get(kind)
        return accepted is not None and all(o in accepted for o in options)

    @property
    def stack_project(self) -> str:
        """The Compose project name of the ``stack:`` section (a Compose-valid name)."""
        return f"{slug(self.project.name, dots=False)}-staging"

    def compose(self, *args: str) -> str:
        """A Compose command line for the notes: ``docker compose -p shop-staging restart
        worker``, with ``-f`` for each file when they are not the ones Compose finds itself
        (a file at the root and its ``.override`` file)."""
        words = [self.compose_cli, "-p", self.stack_project]
        files = self.project.compose_files
        if files and not _found_by_compose(files):
            words += [part for f in files for part in ("-f", f)]
        return " ".join([*words, *args])


def _found_by_compose(files: list[str]) -> bool:
    first = PurePosixPath(files[0])
    if first.parent != PurePosixPath(".") or first.name not in COMPOSE_NAMES:
        return False
    override = first.name.replace(".y", ".override.y", 1)
    return files[1:] in ([], [override])
