"""What every part of the checklist is written for: the project, the kinds this jobcheck
has (and their options), and the Compose command the rollback notes use."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from jobcheck.scaffold.detect import Project
from jobcheck.scaffold.draft import slug

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
        worker``, with ``-f`` when the compose file is not the one Compose finds itself."""
        words = [self.compose_cli, "-p", self.stack_project]
        files = self.project.compose_files
        if files and PurePosixPath(files[0]).parent != PurePosixPath("."):
            words += ["-f", files[0]]
        return " ".join([*words, *args])
