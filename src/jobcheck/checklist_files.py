"""Loading, step 1 (read, include, interpolate the file level): the main checklist and its
includes (depth first, each read once; where each include points and whether it can be read:
``checklist_includes``), their `env_files` and `vars` (the main file's win), and their top-level
keys interpolated and validated (``ChecklistSpec``). It gathers the raw check entries, each
with its file and the defaults in force there, for ``check_building``. A problem is a
``ChecklistError`` recorded in the run's ``Problems`` and loading goes on past it where it
safely can (``FileLoader``); ``loading`` raises them all at once, masked.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobcheck.checklist import ChecklistSpec
from jobcheck.checklist_includes import read_include
from jobcheck.dotenv_files import InterpolationError, interpolated, read_dotenv
from jobcheck.errors import ChecklistError, Problems
from jobcheck.interpolate import Lookup, chain, is_name, usable_name, walk
from jobcheck.validation import interp_text, salvaged, type_name, validated
from jobcheck.yamlsrc import Key, Source

# Top-level keys whose strings are interpolated before the file's own keys are validated;
# checks are interpolated one by one, so an error names the check.
_INTERPOLATED = ("name", "include", "defaults", "stack")


@dataclass
class Entry:
    """One raw check with the file it came from and its index there."""

    source: Source
    index: int
    data: Any
    defaults: dict[str, Any]
    # The defaults in force had a problem (reported): a check without an owner is not told
    # again, the owner may be what was misspelled.
    defaults_in_doubt: bool = False

    @property
    def key(self) -> Key:
        return ("checks", self.index)

    @property
    def label(self) -> str:
        check_id = self.data.get("id") if isinstance(self.data, dict) else None
        return f"check `{check_id}`" if isinstance(check_id, str) else f"check #{self.index + 1}"


@dataclass
class FileLoader:
    """What loading gathers across the main file and its includes. A problem is recorded in
    ``problems`` and loading goes on past it: a bad vars entry, env file or include is left
    out, a file-level key with a problem is left out of that file's spec; a file that is not
    YAML, or not a mapping, stops (its own problem said, its includes and checks unread)."""

    env: Mapping[str, str]
    problems: Problems = field(default_factory=Problems)
    variables: dict[str, str] = field(default_factory=dict)
    sources: list[Source] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    file_env: dict[str, str] = field(default_factory=dict)
    env_paths: list[Path] = field(default_factory=list)  # the env files read
    read: list[Path] = field(default_factory=list)  # every file opened, in order (errors' order)
    stack_unusable: bool = False  # a `stack:` written, but with a problem: its services unknown
    unresolved: set[str] = field(default_factory=set)  # vars, env file names with a problem

    @property
    def lookup(self) -> Lookup:
        return chain(self.variables, self.env, self.file_env)

    def load(
        self, source: Source, inherited: dict[str, Any], seen: list[Path], doubt: bool = False
    ) -> ChecklistSpec | None:
        """Read one file: its vars, its includes (depth first), then its own checks. None when
        the file cannot be read as a checklist at all (the problem recorded)."""
        main = not seen[:-1]
        if main:
            self.read.append(source.path)
        spec, broken = self.spec(source, main)
        self.sources.append(source)
        if spec is None:
            return None
        doubt = doubt or any(k[0] == "defaults" for k in broken)
        self.secrets += spec.secrets
        own = spec.defaults.model_dump(exclude_none=True) if spec.defaults else {}
        defaults = {**inherited, **own}
        for i, include in enumerate(spec.include):
            if ("include", i) in broken:
                continue  # its name did not interpolate: said already
            child = self.include(source, i, include, seen)
            if child is not None:
                self.load(child, defaults, [*seen, child.path], doubt)
        checks = source.data.get("checks")
        for j, item in enumerate(checks if isinstance(checks, list) else []):
            self.entries.append(Entry(source, j, item, defaults, doubt))
        return spec

    def spec(self, source: Source, main: bool) -> tuple[ChecklistSpec | None, set[Key]]:
        """The file's top-level keys interpolated and validated, and the places whose problems
        are recorded already (their follow-on problems are not said again)."""
        broken: set[Key] = set()
        data = self._mapping_of(source, main, broken)
        if data is None:
            return None, broken
        self.add_env_files(source, data.get("env_files"), broken)
        self.add_vars(source, data.get("vars"), broken)
        text = {
            k: self._interpolated(v, source, (k,), broken) if k in _INTERPOLATED else v
            for k, v in data.items()
        }
        # Checks are validated later, one by one, each with its own line. An included file
        # may hold no checks (only vars, defaults or more includes).
        checks = text.get("checks")
        placeholder = [{"id": "placeholder", "kind": "placeholder"}]
        if (isinstance(checks, list) and checks) or (not main and checks in (None, [])):
            text["checks"] = placeholder
        if not main:
            text = {"version": 1, "name": source.path.name, **text}
            if "stack" in data:
                self.problems.add(
                    source.error(
                        ("stack",),
                        "`stack` is read only from the main checklist, not from an included file",
                        of_key=True,
                        hint="move the stack: section into the checklist that includes this file",
                    )
                )
                del text["stack"]
        fill = {"version": 1, "name": source.path.name, "checks": placeholder}
        spec, errors, places = salvaged(ChecklistSpec, text, source, broken, fill)
        for error in errors:
            self.problems.add(error)
        broken.update((k,) for k in places)
        if main and any(k[:1] == ("stack",) for k in broken):
            self.stack_unusable = True
        return spec, broken

    def _interpolated(self, data: Any, source: Source, key: Key, broken: set[Key]) -> Any:
        """``data`` with every string interpolated; a string that cannot be is recorded, kept
        as written, and its place added to ``broken``."""

        def visit(text: str, k: Key) -> str:
            try:
                return interp_text(text, self.lookup, source, (*key, *k), "")
            except ChecklistError as exc:
                self.problems.add(exc)
                broken.add((*key, *k))
                return text

        return walk(data, visit)

    def add_vars(self, source: Source, raw: Any, broken: set[Key]) -> None:
        """Resolve this file's vars in order; the main file's (read first) win. A var that
        cannot be resolved keeps its text as written: a check using it is not told again."""
        if not isinstance(raw, dict):
            return  # the envelope validation reports the wrong type
        annotation = ChecklistSpec.model_fields["vars"].annotation
        try:
            checked = validated(annotation, raw, source, ("vars",))
        except ChecklistError as exc:
            self.problems.add(exc)
            broken.add(("vars",))
            checked = {
                k: t for k, v in raw.items() if isinstance(k, str) and (t := _text(v)) is not None
            }
            for name, value in raw.items():  # said: defined as written, not reported again
                if name not in checked and str(name) not in self.variables:
                    self.variables[str(name)] = str(value)
                    self.unresolved.add(str(name))
        for name, value in checked.items():
            if not is_name(str(name)):
                self.problems.add(
                    source.error(
                        ("vars", name),
                        f"variable name `{name}` cannot be used as ${{{name}}}",
                        of_key=True,
                        expected="letters, digits and _, not starting with a digit",
                        seen=str(name),
                        hint=f"rename it, e.g. `{usable_name(str(name))}`",
                    )
                )
                continue
            if name not in self.variables:
                try:
                    value = interp_text(value, self.lookup, source, ("vars", name), "")
                except ChecklistError as exc:  # defined as written: not reported again
                    self.problems.add(exc)
                    self.unresolved.add(name)
                self.variables[name] = value

    def add_env_files(self, source: Source, raw: Any, broken: set[Key]) -> None:
        """Read dotenv files (relative to this file) below the environment, as Compose does.
        A file that cannot be read is left out; one read with problems still defines its
        names (as written), so a check using them is not told again."""
        if raw is None:
            return
        try:
            names = validated(
                ChecklistSpec.model_fields["env_files"].annotation, raw, source, ("env_files",)
            )
        except ChecklistError as exc:
            self.problems.add(exc)
            broken.add(("env_files",))
            return
        for i, name in enumerate(names):
            values = self._env_file(source, i, name)
            for key, value in values.items():
                self.file_env.setdefault(key, value)

    def _env_file(self, source: Source, i: int, name: str) -> dict[str, str]:
        """One env file's values; its problems recorded."""
        where = ("env_files", i)
        try:
            target = source.path.parent / interp_text(name, self.lookup, source, where, "")
        except ChecklistError as exc:
            self.problems.add(exc)
            return {}
        unusable = _small_file_problem(source, where, target, f"env file `{name}`")
        if unusable is not None:
            self.problems.add(unusable)
            return {}
        self.env_paths.append(target)
        try:
            dotenv = read_dotenv(target)
        except (OSError, UnicodeDecodeError) as exc:
            self.problems.add(
                source.error(
                    where,
                    f"cannot read env file `{name}`: {getattr(exc, 'strerror', None) or exc}",
                    expected=f"a dotenv file at {target}",
                    hint="env_files paths are relative to the checklist",
                )
            )
            return {}
        for line, problem in dotenv.problems:
            self.problems.add(
                source.error(
                    where,
                    f"env file `{name}` line {line}: {problem}",
                    hint="fix the env file (KEY=VALUE per line)",
                )
            )
        if not dotenv.problems:
            try:
                return interpolated(dotenv, {**self.file_env, **self.env})
            except InterpolationError as exc:
                self.problems.add(
                    source.error(
                        where,
                        f"env file `{name}` {exc}",
                        hint="write $$ for a literal $ in an env file value, or single-quote "
                        "it ('...') to take it as written",
                    )
                )
        values = dotenv.values()  # as written
        self.unresolved.update(values)
        return values

    def include(self, source: Source, i: int, name: str, seen: list[Path]) -> Source | None:
        """The included file, parsed (``checklist_includes``); None when an earlier include
        already read it, or when it cannot be read (the problem recorded)."""
        try:
            return read_include(source, i, name, seen, self.sources, self.read)
        except ChecklistError as exc:  # one file's problem: the others are still read
            self.problems.add(exc)
            return None

    def _mapping_of(self, source: Source, main: bool, broken: set[Key]) -> dict[str, Any] | None:
        """The file's top-level mapping (None, recorded, when it is not one); a wrong
        `version` is recorded and loading goes on."""
        try:
            return _mapping_of(source, main)
        except ChecklistError as exc:
            self.problems.add(exc)
            if not isinstance(source.data, dict):
                return None
            broken.add(("version",))
            return source.data


def _text(value: Any) -> str | None:
    """A var's value as text, as ``VarText`` reads it (numbers are text, booleans are not)."""
    if isinstance(value, str):
        return value
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


MAX_ENV_FILE_BYTES = 1024 * 1024


def _small_file_problem(source: Source, key: Key, target: Path, what: str) -> ChecklistError | None:
    """None for a regular file of a sane size, else what is wrong with it: /dev/zero, a FIFO
    or a huge file would hang or exhaust memory before any check ran."""
    try:
        info = target.stat()
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        return source.error(
            key,
            f"cannot read {what}: {reason}",
            expected=f"a dotenv file at {target}",
            hint="env_files paths are relative to the checklist",
        )
    if not stat.S_ISREG(info.st_mode):
        return source.error(
            key,
            f"{what} is not a regular file",
            expected="a dotenv file",
            seen=f"{target} (a device, FIFO, socket or folder)",
        )
    if info.st_size > MAX_ENV_FILE_BYTES:
        return source.error(
            key,
            f"{what} is {info.st_size} bytes, more than {MAX_ENV_FILE_BYTES}",
            expected="a dotenv file of at most 1 MiB",
        )
    return None


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
