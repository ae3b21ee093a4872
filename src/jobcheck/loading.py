"""Load a checklist: YAML with line numbers, includes, interpolation, validation."""

from __future__ import annotations

import contextlib
import difflib
import gc
import os
import re
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobcheck import kinds
from jobcheck.checklist import DEFAULT_TIMEOUT_S, Check, Checklist, ChecklistSpec, CheckSpec
from jobcheck.dotenv_files import InterpolationError, interpolated, read_dotenv
from jobcheck.errors import ChecklistError, ChecklistErrors, Location
from jobcheck.footprint import EVERY, NOTHING, footprint_of
from jobcheck.interpolate import BadReference, Unset, chain, interpolate, walk
from jobcheck.kinds.base import Footprint, Kind, KindOptions, OptionProblem
from jobcheck.plan import Graph
from jobcheck.results import WaiverNote
from jobcheck.secrets import Masker, looks_secret, mask_fields, shown, values_under_secret_keys
from jobcheck.stack_refs import StackRefs
from jobcheck.validation import field_name, line_of, seen_text, type_name, validated
from jobcheck.yamlsrc import Key, Source, parse

DEFAULT_FILES = ("jobcheck.yaml", "checklists/release.yaml")
VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Top-level keys whose strings are interpolated before the file's own keys are validated;
# checks are interpolated one by one, so an error names the check.
_INTERPOLATED = ("name", "include", "defaults", "stack")

Lookup = Callable[[str], str | None]


def find_checklist(path: Path | None, cwd: Path | None = None) -> Path:
    """The checklist to use: the given path, else jobcheck.yaml, else checklists/release.yaml,
    looked for in the current folder and then each parent up to the repository's root (the
    folder holding `.git`), as git and ruff find their configuration."""
    if path is not None:
        return path
    base = cwd or Path.cwd()
    searched = search_folders(base)
    for folder in searched:
        for name in DEFAULT_FILES:
            if (folder / name).is_file():
                return folder / name
    where = "here" if len(searched) == 1 else f"here or in a parent up to {searched[-1]}"
    raise ChecklistError(
        "no checklist given and none found",
        Location(base),
        expected=" or ".join(DEFAULT_FILES),
        seen=f"neither file exists {where}",
        hint="pass a path (`jobcheck run -c path/to/checklist.yaml`), `-C DIR`, "
        "or run `jobcheck init`",
    )


def search_folders(start: Path) -> list[Path]:
    """``start`` and its parents, ending at the first that holds `.git` (or at the root)."""
    folders = []
    folder = start.absolute()
    while True:
        folders.append(folder)
        if (folder / ".git").exists() or folder.parent == folder:
            return folders
        folder = folder.parent


@dataclass
class _Entry:
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
class _Loader:
    """What loading gathers across the main file and its includes."""

    env: Mapping[str, str]
    variables: dict[str, str] = field(default_factory=dict)
    sources: list[Source] = field(default_factory=list)
    entries: list[_Entry] = field(default_factory=list)
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
            self.entries.append(_Entry(source, j, item, defaults))
        return spec

    def spec(self, source: Source, main: bool) -> ChecklistSpec:
        data = _mapping_of(source, main)
        self.add_env_files(source, data.get("env_files"))
        self.add_vars(source, data.get("vars"))
        text = {
            k: _interpolated(v, self.lookup, source, (k,), "") if k in _INTERPOLATED else v
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
                self.variables[name] = _interp(value, self.lookup, source, where, "")

    def add_env_files(self, source: Source, raw: Any) -> None:
        """Read dotenv files (relative to this file) below the environment, as Compose does."""
        if raw is None:
            return
        names = validated(
            ChecklistSpec.model_fields["env_files"].annotation, raw, source, ("env_files",)
        )
        for i, name in enumerate(names):
            target = source.path.parent / _interp(name, self.lookup, source, ("env_files", i), "")
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


def load_checklist(path: Path, env: Mapping[str, str] | None = None) -> Checklist:
    """Load, interpolate and validate a checklist; every problem is a ChecklistError."""
    with paused_gc():
        return _load_checklist(path, env)


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Loading builds a few objects per value and frees few: the cyclic collector would walk
    the growing heap again and again (a third of the time of 10,000 checks). What loading
    leaves behind is collected when the collector resumes."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _load_checklist(path: Path, env: Mapping[str, str] | None) -> Checklist:
    environ = dict(os.environ if env is None else env)
    path = path.resolve() if path.exists() else path
    loader = _Loader(environ)
    try:
        spec = loader.load(parse(path), {}, [path])
        compose = _compose_data(spec, path.parent)
        ports = StackPorts(spec.stack is not None, _services(compose), _depends_on(compose))
        checks = _build_checks(loader.entries, loader.lookup, ports)
    except ChecklistError as exc:
        # A load error may quote an interpolated value: a secret must not show there either.
        raise _masked(exc, _loader_masker(loader, environ)) from None
    guessed, declared = _secret_values(loader)
    checklist = Checklist(
        name=spec.name,
        path=path,
        checks=checks,
        stack=spec.stack,
        secret_values=[*guessed, *(v for v in declared if v not in guessed)],
        declared_secret_values=declared,
        declared_names=sorted(set(loader.secrets)),
        files=[s.path for s in loader.sources],
        vars=dict(loader.variables),
        file_env=dict(loader.file_env),
        env_files=list(loader.env_paths),
    )
    checklist.option_secret_values = _option_secret_values(checks)
    # What a check says about itself is shown everywhere: a secret interpolated into it is
    # masked here, once, at load. The options the kind runs with are left as they are.
    mask = shown(checklist_masker(checklist, environ))
    checklist.name = mask(checklist.name)
    for check in checks:
        check.mask_shown(mask)
    return checklist


def checklist_masker(checklist: Checklist, environ: Mapping[str, str]) -> Masker:
    """Every secret a run of this checklist may show: secret-looking and declared names in the
    environment, vars and env files, and literals under secret-looking keys in check options."""
    masker = Masker.from_env(environ, checklist.declared_names)
    options = checklist.option_secret_values
    if options is None:
        options = checklist.option_secret_values = _option_secret_values(checklist.checks)
    masker.add([*checklist.secret_values, *options])
    masker.add_declared(checklist.declared_secret_values)
    return masker


# Options of jobcheck's own kinds whose names look secret but hold file paths or key names
# (`env: {same_keys_as: .env.example}`, `service: {env_keys: [API_KEY]}`): masking them would
# hide which file or key a finding is about, and reveal nothing.
NAMES_NOT_SECRETS = frozenset({"same_keys_as", "secrets_from", "env_keys"})


def _option_secret_values(checks: list[Check]) -> list[str]:
    """The literals under secret-looking keys of every check's options, each once."""
    found: dict[str, None] = {}
    for check in checks:
        given = check.options.model_dump(mode="json", exclude_unset=True)  # what the user wrote
        for name in NAMES_NOT_SECRETS.intersection(given):
            del given[name]
        found.update(dict.fromkeys(values_under_secret_keys(given)))
    return list(found)


def _secret_values(loader: _Loader) -> tuple[list[str], list[str]]:
    """(guessed, declared): values of secret-looking names, and of names under ``secrets:``."""
    declared_names = set(loader.secrets)
    sources: list[Mapping[str, str]] = [loader.variables, loader.file_env]
    guessed = [v for source in sources for k, v in source.items() if looks_secret(k) and v]
    declared = [v for source in sources for k, v in source.items() if k in declared_names and v]
    declared += [loader.env[k] for k in sorted(declared_names) if loader.env.get(k)]
    return guessed, declared


def _loader_masker(loader: _Loader, environ: Mapping[str, str]) -> Masker:
    masker = Masker.from_env(environ, loader.secrets)
    guessed, declared = _secret_values(loader)
    masker.add(guessed)
    masker.add_declared(declared)
    return masker


def _masked(exc: ChecklistError, masker: Masker) -> ChecklistError:
    errors = exc.errors if isinstance(exc, ChecklistErrors) else [exc]
    for error in errors:
        mask_fields(error, ("problem", "expected", "seen", "hint", "source_line"), masker)
        error.message = error.problem
    return exc


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


# --- one check ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StackPorts:
    """What `${stack.SERVICE.PORT}` may name: is there a stack, and which services (None when
    the compose files cannot be read here: the check then finds out when it runs)."""

    present: bool
    services: frozenset[str] | None
    # service -> the services its `depends_on` names (stopping one disrupts the other)
    depends_on: dict[str, frozenset[str]] = field(default_factory=dict)


def _compose_data(spec: ChecklistSpec, base: Path) -> list[dict[str, Any]] | None:
    """The ``services`` mapping of each of the stack's compose files, read through the
    checklist's bounded loader (a FIFO, /dev/zero, deep nesting or a huge file: None, as for
    any unreadable file)."""
    if spec.stack is None:
        return None
    found: list[dict[str, Any]] = []
    for name in spec.stack.compose:
        try:
            data = parse(base / name).data
        except ChecklistError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("services"), dict):
            return None
        found.append(data["services"])
    return found


def _services(files: list[dict[str, Any]] | None) -> frozenset[str] | None:
    """The services of the stack's compose files (None: unreadable or no stack)."""
    return None if files is None else frozenset(str(k) for f in files for k in f)


def _depends_on(files: list[dict[str, Any]] | None) -> dict[str, frozenset[str]]:
    """Each compose service's ``depends_on`` (a list or a mapping); empty when unreadable."""
    found: dict[str, frozenset[str]] = {}
    for services in files or []:
        for service, body in services.items():
            needs = body.get("depends_on") if isinstance(body, dict) else None
            if isinstance(needs, list | dict):
                found[str(service)] = frozenset(str(n) for n in needs)
    return found


def _build_checks(entries: list[_Entry], lookup: Lookup, ports: StackPorts) -> list[Check]:
    errors: list[ChecklistError] = []
    checks: list[Check] = []
    first_seen: dict[str, _Entry] = {}
    for entry in entries:
        try:
            check = _build_check(entry, lookup, ports)
        except ChecklistErrors as exc:
            errors.extend(exc.errors)
            continue
        except ChecklistError as exc:
            errors.append(exc)
            continue
        if check.id in first_seen:
            errors.append(_duplicate(entry, first_seen[check.id], check.id))
            continue
        first_seen[check.id] = entry
        checks.append(check)
    if errors:
        raise ChecklistErrors(errors)
    _check_needs(checks, first_seen)
    _check_rechecks(checks, first_seen)
    return checks


def _duplicate(entry: _Entry, other: _Entry, check_id: str) -> ChecklistError:
    line = other.source.location(other.key).line
    return entry.source.error(
        (*entry.key, "id"),
        f"duplicate check id `{check_id}` (first at {other.source.path.name}:{line})",
        hint="every check id must be unique across the checklist and its includes",
    )


def _build_check(entry: _Entry, lookup: Lookup, ports: StackPorts) -> Check:
    source, key, label = entry.source, entry.key, entry.label
    if not isinstance(entry.data, dict):
        raise source.error(
            key,
            f"{label} is not a mapping",
            expected="id, kind, with, owner, ...",
            seen=seen_text(entry.data),
            hint="a check is a mapping: `- id: lint` on one line, then `kind:`, `with:`, ...",
        )
    # Collect every problem of this check: its kind, the envelope, the owner, the options.
    errors: list[ChecklistError] = []
    kind = _collecting(errors, lambda: _resolve_kind(entry.data.get("kind"), source, key, label))
    data, collapsed = _prepare(kind, entry.data, source, key)

    referenced = False  # whether any string holds a `$`: else it names no stack port either

    def visit(text: str, k: Key) -> str:
        nonlocal referenced
        referenced = referenced or "$" in text
        if len(k) > 2 and k[0] == "with" and k[1] in collapsed:
            k = k[:2]  # a part of an option the kind's prepare hook split from one string
        return _interp(text, lookup, source, (*key, *k), label)

    data = _with_references(data, visit)
    spec = _collecting(errors, lambda: validated(CheckSpec, data, source, key, label))
    if not (data.get("owner") or entry.defaults.get("owner")):
        errors.append(_no_owner(source, key, label))
    raw = data.get("with", {})
    options = None
    refs = None
    if kind is not None and isinstance(raw, dict):
        if referenced and (refs := StackRefs.find(raw)) is not None:
            errors.extend(_stack_ref_problems(refs, ports, source, (*key, "with"), label))
            raw = refs.placeholders()
        options = _collecting(
            errors, lambda: validated(kind.options, raw, source, (*key, "with"), label)
        )
    if spec is not None and spec.cache is not None and kind is not None:
        errors.extend(_cache_problems(kind, refs, source, key, label))
    if errors or spec is None or kind is None or options is None:  # each said in errors
        raise ChecklistErrors(sorted(errors, key=line_of))
    merged = {**entry.defaults, **spec.model_dump(exclude_none=True, by_alias=False)}
    check = _check(spec, merged, kind, options, source, key)
    check.stack_refs = refs
    check.cache = spec.cache
    check.after = list(spec.after)
    errors.extend(_service_problems(spec, ports, source, key, label))
    if errors:
        raise ChecklistErrors(errors)
    declared = NOTHING
    if spec.uses or spec.disrupts:
        declared = Footprint(frozenset(spec.uses), frozenset(spec.disrupts))
    stack_services = refs.services if refs is not None else frozenset()
    found = footprint_of(kind, options, stack_services, declared, ports.services, ports.depends_on)
    check.uses, check.disrupts = found.uses, found.disrupts
    return check


def _service_problems(
    spec: CheckSpec, ports: StackPorts, source: Source, key: Key, label: str
) -> list[ChecklistError]:
    """`uses:` and `disrupts:` name services of the stack's compose files (when readable)."""
    known = ports.services
    if known is None or not (spec.uses or spec.disrupts):
        return []
    problems = []
    for field_name_ in ("uses", "disrupts"):
        for i, service in enumerate(getattr(spec, field_name_)):
            if service in known or service == EVERY:
                continue
            close = difflib.get_close_matches(service, sorted(known), n=1)
            problems.append(
                source.error(
                    (*key, field_name_, i),
                    f"{label}: `{field_name_}` names service `{service}`, which the stack's "
                    "compose files do not define",
                    expected="one of: " + ", ".join(sorted(known)),
                    seen=service,
                    hint=f"did you mean `{close[0]}`?" if close else "",
                )
            )
    return problems


def _cache_problems(
    kind: Kind[Any], refs: StackRefs | None, source: Source, key: Key, label: str
) -> list[ChecklistError]:
    """`cache:` only where a replayed pass cannot hide a broken service."""
    why = kinds.cache_refusal(kind)
    if not why and refs is not None:
        why = "its options name the running stack's ports (`${stack.SERVICE.PORT}`)"
    if not why:
        return []
    return [
        source.error(
            (*key, "cache"),
            f"{label}: `cache:` is not allowed here: {why}",
            hint="remove `cache:` from this check; it runs every time",
        )
    ]


def _stack_ref_problems(
    refs: StackRefs, ports: StackPorts, source: Source, key: Key, label: str
) -> list[ChecklistError]:
    problems = []
    for at, match in refs.references:
        ref, service = match.group(0), match["service"]
        if not ports.present:
            problems.append(
                source.error(
                    (*key, *at),
                    f"{label}: `{ref}` names a port of the staging stack, but this checklist "
                    "has no `stack:` section",
                    near=ref,
                    hint="add stack: {compose: [docker/compose.yaml], project: NAME}, or write "
                    "the address (127.0.0.1:PORT)",
                )
            )
        elif ports.services is not None and service not in ports.services:
            close = difflib.get_close_matches(service, sorted(ports.services), n=1)
            problems.append(
                source.error(
                    (*key, *at),
                    f"{label}: `{ref}` names service `{service}`, which the stack's compose "
                    "files do not define",
                    near=ref,
                    expected="one of: " + ", ".join(sorted(ports.services)),
                    seen=service,
                    hint=f"did you mean `{close[0]}`?" if close else "",
                )
            )
        elif not 0 < int(match["port"]) < 65536:
            problems.append(source.error((*key, *at), f"{label}: `{ref}`: no such port", near=ref))
    return problems


def _collecting(errors: list[ChecklistError], step: Callable[[], Any]) -> Any:
    try:
        return step()
    except ChecklistErrors as exc:
        errors.extend(exc.errors)
    except ChecklistError as exc:
        errors.append(exc)
    return None


def _no_owner(source: Source, key: Key, label: str) -> ChecklistError:
    return source.error(
        key,
        f"{label} has no owner",
        expected="`owner:` on the check or under `defaults:`",
        seen="none",
        hint='add `owner: "@team-or-person"` so a failure has someone to call',
    )


def _check(
    spec: CheckSpec,
    merged: dict[str, Any],
    kind: Kind[Any],
    options: KindOptions,
    source: Source,
    key: Key,
) -> Check:
    return Check(
        id=spec.id,
        title=spec.title or spec.id,
        kind=spec.kind,
        impl=kind,
        options=options,
        owner=merged["owner"],
        expect=merged.get("expect", ""),
        rollback=merged.get("rollback", ""),
        severity=merged.get("severity", "blocker"),
        needs=list(spec.needs),
        tags=list(merged.get("tags", [])),
        timeout_s=float(merged.get("timeout", DEFAULT_TIMEOUT_S)),
        retries=int(merged.get("retries", 0)),
        retry_safe=bool(merged.get("retry_safe", False)),
        runbook=merged.get("runbook", ""),
        waiver=WaiverNote.coerce(spec.waiver),
        source=str(source.path),
        line=source.location(key).line,
    )


def _prepare(
    kind: Kind[Any] | None, data: dict[str, Any], source: Source, key: Key
) -> tuple[dict[str, Any], frozenset[str]]:
    """The kind's own hook on its raw options, before interpolation (see ``Kind.prepare``)."""
    options = data.get("with")
    if kind is None or kind.prepare is None or not isinstance(options, dict):
        return data, frozenset()
    try:
        prepared = kind.prepare(options)
    except OptionProblem as exc:
        raise source.error(
            (*key, "with", exc.option),
            f"check `{data.get('id')}`: {exc.problem}",
            expected=exc.expected,
            seen=exc.seen,
            hint=exc.hint,
        ) from None
    return {**data, "with": prepared.options}, prepared.collapsed


def _resolve_kind(name: Any, source: Source, key: Key, label: str) -> Kind[Any] | None:
    """The registered kind, or None when ``kind`` is missing or not text (the envelope's
    validation reports that); an unknown or unloadable kind is a load error here."""
    if not isinstance(name, str):
        return None
    try:
        return kinds.get_kind(name)
    except kinds.UnknownKind as exc:
        hint = f"did you mean `{exc.suggestion}`?" if exc.suggestion else ""
        raise source.error(
            (*key, "kind"),
            f"{label}: unknown check kind `{name}`",
            expected="one of " + ", ".join(exc.known),
            seen=name,
            hint=hint or "third-party kinds register through the `jobcheck.kinds` entry point",
        ) from None
    except ImportError as exc:
        raise source.error(
            (*key, "kind"),
            f"{label}: the `{name}` kind cannot be loaded: {exc}",
            hint="install the package it needs into jobcheck's environment",
        ) from None


def _check_needs(checks: list[Check], where: dict[str, _Entry]) -> None:
    """`needs` and `after` name other checks here, and no chain of them comes back."""
    ids = sorted(c.id for c in checks)
    known = set(ids)  # a set: a chain of 5,000 needs must not scan 5,000 ids for each
    errors = []
    for check in checks:
        entry = where[check.id]
        for field_name_ in ("needs", "after"):
            for i, need in enumerate(getattr(check, field_name_)):
                if need == check.id or need not in known:
                    errors.append(_bad_need(entry, field_name_, i, check.id, need, ids))
    if errors:
        raise ChecklistErrors(errors)
    cycle = Graph(checks).cycle()
    if cycle:
        entry = where[cycle[0]]
        first = next(c for c in checks if c.id == cycle[0])
        field_name_ = "needs" if cycle[1] in first.needs else "after"
        index = getattr(first, field_name_).index(cycle[1])
        raise entry.source.error(
            (*entry.key, field_name_, index),
            "dependency cycle: "
            + " -> ".join(cycle)
            + " (each check needs, or runs after, the next)",
            hint="a check cannot (indirectly) wait for itself; remove one of these needs or after",
        )


def _check_rechecks(checks: list[Check], where: dict[str, _Entry]) -> None:
    """The ids a kind runs again (``Kind.recheck_option``) name other checks here, which
    rerun nothing themselves."""
    by_id = {c.id: c for c in checks}
    errors = []
    for check in checks:
        option = check.impl.recheck_option
        for i, target in enumerate(getattr(check.options, option, None) or [] if option else []):
            key = (*where[check.id].key, "with", option, i)
            other = by_id.get(target)
            if other is None or other is check:
                close = difflib.get_close_matches(target, [c for c in by_id if c != check.id], n=1)
                errors.append(
                    where[check.id].source.error(
                        key,
                        f"check `{check.id}`: {option} names `{target}`, "
                        + ("itself" if other is check else "which is not a check here"),
                        expected="the id of another check",
                        seen=target,
                        hint=f"did you mean `{close[0]}`?" if close else "",
                    )
                )
            elif other.impl.recheck_option:
                errors.append(
                    where[check.id].source.error(
                        key,
                        f"check `{check.id}`: {option} names `{target}`, a {other.kind} check "
                        "that runs other checks again itself",
                        hint="name the checks it reruns instead",
                    )
                )
    if errors:
        raise ChecklistErrors(errors)


def _bad_need(
    entry: _Entry, field_name_: str, i: int, check_id: str, need: str, ids: list[str]
) -> ChecklistError:
    key = (*entry.key, field_name_, i)
    verb = "needs" if field_name_ == "needs" else "runs after"
    if need == check_id:
        return entry.source.error(key, f"check `{check_id}` {verb} itself")
    close = difflib.get_close_matches(need, [c for c in ids if c != check_id], n=1)
    return entry.source.error(
        key,
        f"check `{check_id}` {verb} `{need}`, which is not a check here",
        expected="the id of another check",
        seen=need,
        hint=f"did you mean `{close[0]}`?" if close else "checks here: " + ", ".join(ids),
    )


# --- interpolation --------------------------------------------------------------------------


def _with_references(data: Any, visit: Callable[[str, Key], str], key: Key = ()) -> Any:
    """``walk`` for a check's data, which is mostly strings without a reference: those are
    kept as they are without building their key. A copy, as ``walk`` makes."""
    kind = type(data)
    if kind is dict:
        return {
            k: (v if "$" not in v else visit(v, (*key, k)))
            if type(v) is str
            else _with_references(v, visit, (*key, k))
            for k, v in data.items()
        }
    if kind is list:
        return [
            (v if "$" not in v else visit(v, (*key, i)))
            if type(v) is str
            else _with_references(v, visit, (*key, i))
            for i, v in enumerate(data)
        ]
    if kind is str:
        return data if "$" not in data else visit(data, key)
    return walk(data, visit, key)  # anything else: walk's own rules


def _interpolated(data: Any, lookup: Lookup, source: Source, key: Key, label: str) -> Any:
    return walk(data, lambda text, k: _interp(text, lookup, source, (*key, *k), label))


def _interp(text: str, lookup: Lookup, source: Source, key: Key, label: str) -> str:
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
