"""Loading, step 1, the `include:` entries: the file each one names (relative to the including
file, symlinks resolved), why it cannot be read (a name the system refuses, a symlink loop, a
cycle back to a file being read, no such file), and reading it once. ``checklist_files``
walks the includes depth first; a problem here is one ``ChecklistError``, which it records
before going on to the next include.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from jobcheck.yamlsrc import Source, parse


def read_include(
    source: Source,
    i: int,
    name: str,
    seen: Sequence[Path],
    loaded: Sequence[Source],
    read: list[Path],
) -> Source | None:
    """Include ``i`` of ``source`` (written ``name``), parsed; None when it is one of the
    files ``loaded`` already (a diamond: two files include a third, read once). Its path is
    added to ``read`` (every file opened, in order: the errors' order) before it is parsed."""
    target = include_target(source, i, name, seen)
    if any(s.path == target for s in loaded):
        return None
    read.append(target)
    return parse(target)


def include_target(source: Source, i: int, name: str, seen: Sequence[Path]) -> Path:
    """The file include ``i`` of ``source`` names, resolved. A ChecklistError when the name
    cannot be used, is a symlink loop, is a file being read (``seen``: the main file and the
    includes down to ``source``) or is not a file."""
    try:
        target = (source.path.parent / name).resolve()
        is_file = target.is_file()
    except RuntimeError:  # pathlib's word for a symlink loop
        raise source.error(
            ("include", i),
            f"included file `{name}` is a symlink loop",
            expected="a path to a checklist file, relative to the including file",
            hint="point the symlink at a file, or include the file itself",
        ) from None
    except (OSError, ValueError) as exc:  # a NUL byte, a name too long for the system
        raise source.error(
            ("include", i),
            f"included file name cannot be used: {getattr(exc, 'strerror', None) or exc}",
            expected="a path to a checklist file, relative to the including file",
            seen=repr(name if len(name) <= 60 else name[:57] + "..."),
        ) from None
    if target in seen:
        cycle = " -> ".join(p.name for p in (*seen, target))
        raise source.error(
            ("include", i),
            f"include cycle: {cycle}",
            hint="a file cannot (indirectly) include itself; remove one of these includes",
        )
    if not is_file:
        raise source.error(
            ("include", i),
            f"included file `{name}` not found",
            expected=f"a checklist file at {target}",
            seen="no such file",
            hint="include paths are relative to the including file",
        )
    return target
