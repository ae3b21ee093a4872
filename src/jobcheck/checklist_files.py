"""Loading, step 1 (read, include, interpolate the file level): the main checklist and its
includes (depth first, each read once), their `env_files` and `vars` (the main file's win), and
their top-level keys interpolated and validated (``ChecklistSpec``). It gathers the raw check
entries, each with its file and the defaults in force there, for ``check_building``. A problem
is a ``ChecklistError`` raised at once (a file-level error stops loading); ``loading`` masks and
renders it.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobcheck.checklist import ChecklistSpec
from jobcheck.dotenv_files import InterpolationError, interpolated, read_dotenv
from jobcheck.interpolate import BadReference, Unset, chain, interpolate, walk
from jobcheck.validation import field_name, type_name, validated
from jobcheck.yamlsrc import Key, Source, parse

VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Top-level keys whose strings are interpolated before the file's own keys are validated;
# checks are interpolated one by one, so an error names the check.
_INTERPOLATED = ("name", "include", "defaults", "stack")

Lookup = Callable[[str], str | None]


@dataclass
class Entry:
    """One raw check with the file it came from and its index there."""

    source: Source
    index: int
    data: Any
    defaults: dict[str, Any]

    @property
    def key(self) -> Key:
        return ("checks", self.index)

    @property
    def label(self) -> str:
        check_id = self.data.get("id") if isinstance(self.data, dict) else None
        return f"check `{check_id}`" if isinstance(check_id, str) else f"check #{self.index + 1}"


@dataclass
class FileLoader:
    """What loading gathers across the main file and its includes."""

    env: Mapping[str, str]
    variables: dict[str, str] = field(default_factory=dict)
    sources: list[Source] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    file_env: dict[str, str] = field(default_factory=dict)
    env_paths: list[Path] = field(default_factory=list)  # the env files read

    @property
    def lookup(self) -> Lookup:
        return chain(self.variables, self.env, self.file_env)

    def load(self, source: Source, inherited: dict[str, Any], seen: list[Path]) -> ChecklistSpec:
        """Read one file: its vars, its includes (depth first), then its own checks."""
        spec = self.spec(source, main=not seen[:-1])
        self.sources.append(source)
        self.secrets += spec.secrets
        own = spec.defaults.model_dump(exclude_none=True) if spec.defaults else {}
        defaults = {**inherited, **own}
        for i, include in enumerate(spec.include):
            child = self.include(source, i, include, seen)
            if child is not None:
                self.load(child, defaults, [*seen, child.path])
        for j, item in enumerate(source.data.get("checks") or []):
            self.entries.append(Entry(source, j, item, defaults))
        return spec

    def spec(self, source: Source, main: bool) -> ChecklistSpec:
        data = _mapping_of(source, main)
        self.add_env_files(source, data.get("env_files"))
        self.add_vars(source, data.get("vars"))
        text = {
            k: interp_tree(v, self.lookup, source, (k,), "") if k in _INTERPOLATED else v
            for k, v in data.items()
        }
        # Checks are validated later, one by one, each with its own line. An included file
        # may hold no checks (only vars, defaults or more includes).
        checks = text.get("checks")
        if (isinstance(checks, list) and checks) or (not main and checks in (None, [])):
            text["checks"] = [{"id": "placeholder", "kind": "placeholder"}]
        if not main:
            text = {"version": 1, "name": source.path.name, **text}
            if "stack" in data:
                raise source.error(
                    ("stack",),
                    "`stack` is read only from the main checklist, not from an included file",
                    of_key=True,
                    hint="move the stack: section into the checklist that includes this file",
                )
        spec: ChecklistSpec = validated(ChecklistSpec, text, source, ())
        return spec

    def add_vars(self, source: Source, raw: Any) -> None:
        """Resolve this file's vars in order; the main file's (read first) win."""
        if not isinstance(raw, dict):
            return  # the envelope validation reports the wrong type
        checked = validated(ChecklistSpec.model_fields["vars"].annotation, raw, source, ("vars",))
        for name, value in checked.items():
            if not VAR_NAME.match(str(name)):
                raise source.error(
                    ("vars", name),
                    f"variable name `{name}` cannot be used as ${{{name}}}",
                    of_key=True,
                    expected="letters, digits and _, not starting with a digit",
                    seen=str(name),
                    hint=f"rename it, e.g. `{re.sub(r'[^A-Za-z0-9_]', '_', str(name))}`",
                )
            if name not in self.variables:
                where = ("vars", name)
                self.variables[name] = interp_text(value, self.lookup, source, where, "")

    def add_env_files(self, source: Source, raw: Any) -> None:
        """Read dotenv files (relative to this file) below the environment, as Compose does."""
        if raw is None:
            return
        names = validated(
            ChecklistSpec.model_fields["env_files"].annotation, raw, source, ("env_files",)
        )
        for i, name in enumerate(names):
            target = source.path.parent / interp_text(
                name, self.lookup, source, ("env_files", i), ""
            )
            _require_small_file(source, ("env_files", i), target, f"env file `{name}`")
            self.env_paths.append(target)
            try:
                dotenv = read_dotenv(target)
            except (OSError, UnicodeDecodeError) as exc:
                raise source.error(
                    ("env_files", i),
                    f"cannot read env file `{name}`: {getattr(exc, 'strerror', None) or exc}",
                    expected=f"a dotenv file at {target}",
                    hint="env_files paths are relative to the checklist",
                ) from None
            if dotenv.problems:
                line, problem = dotenv.problems[0]
                raise source.error(
                    ("env_files", i),
                    f"env file `{name}` line {line}: {problem}",
                    hint="fix the env file (KEY=VALUE per line)",
                )
            try:
                values = interpolated(dotenv, {**self.file_env, **self.env})
            except InterpolationError as exc:
                raise source.error(
                    ("env_files", i),
                    f"env file `{name}` {exc}",
                    hint="write $$ for a literal $ in an env file value, or single-quote it "
                    "('...') to take it as written",
                ) from None
            for key, value in values.items():
                self.file_env.setdefault(key, value)

    def include(self, source: Source, i: int, name: str, seen: list[Path]) -> Source | None:
        """The included file, parsed; None when an earlier include already read it."""
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
        if any(s.path == target for s in self.sources):
            return None  # a diamond (two files include a third): read it once
        return parse(target)


MAX_ENV_FILE_BYTES = 1024 * 1024


def _require_small_file(source: Source, key: Key, target: Path, what: str) -> None:
    """A regular file of a sane size: /dev/zero, a FIFO or a huge file would hang or exhaust
    memory before any check ran."""
    try:
        info = target.stat()
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise source.error(
            key,
            f"cannot read {what}: {reason}",
            expected=f"a dotenv file at {target}",
            hint="env_files paths are relative to the checklist",
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise source.error(
            key,
            f"{what} is not a regular file",
            expected="a dotenv file",
            seen=f"{target} (a device, FIFO, socket or folder)",
        )
    if info.st_size > MAX_ENV_FILE_BYTES:
        raise source.error(
            key,
            f"{what} is {info.st_size} bytes, more than {MAX_ENV_FILE_BYTES}",
            expected="a dotenv file of at most 1 MiB",
        )


def _mapping_of(source: Source, main: bool) -> dict[str, Any]:
    data = source.data
    if not isinstance(data, dict):
        raise source.error(
            (),
            "a checklist is a mapping" if main else "an included file is a mapping with `checks:`",
            expected="keys such as version, name and checks" if main else "checks: [...]",
            seen=f"a {type_name(data)}",
            hint="start the file with `version: 1`" if main else "",
        )
    version = data.get("version")
    if main and "version" in data and not (type(version) is int and version == 1):
        quoted = isinstance(version, str) and version.strip() == "1"
        raise source.error(
            ("version",),
            "`version` has no value"
            if version is None
            else f"unsupported format version {version!r}",
            expected="version: 1",
            seen=f"version: {version!r}",
            hint="write the number without quotes" if quoted else "jobcheck reads format 1 only",
        )
    return data


def interp_tree(data: Any, lookup: Lookup, source: Source, key: Key, label: str) -> Any:
    return walk(data, lambda text, k: interp_text(text, lookup, source, (*key, *k), label))


def interp_text(text: str, lookup: Lookup, source: Source, key: Key, label: str) -> str:
    if "$" not in text:
        return text  # most values: nothing to interpolate
    where = f"{label}: " if label else ""
    try:
        return interpolate(text, lookup)
    except Unset as exc:
        name = field_name(key)
        raise source.error(
            key,
            f"{where}`${{{exc.name}}}` in `{name}` is not set",
            near=f"${{{exc.name}",
            expected=f"`{exc.name}` in vars or the environment",
            seen="unset",
            hint=f"export {exc.name}=..., add it under vars:, or write ${{{exc.name}:-default}}",
        ) from None
    except BadReference as exc:
        name = field_name(key)
        raise source.error(
            key,
            f"{where}malformed reference `{exc.text}` in `{name}`",
            near=exc.text,
            expected="${NAME} or ${NAME:-default} (names: letters, digits, _)",
            seen=exc.text,
            hint="write $$ for a literal $",
        ) from None
