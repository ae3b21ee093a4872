"""``jobcheck init``: a starting ``jobcheck.yaml`` read from the project it is run in."""

from __future__ import annotations

from jobcheck.scaffold.render import (
    ChecklistExists,
    Project,
    detect,
    init_checklist,
    init_command,
    render,
)

__all__ = ["ChecklistExists", "Project", "detect", "init_checklist", "init_command", "render"]
