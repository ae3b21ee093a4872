"""Load a checklist: YAML with line numbers, includes, interpolation, validation.

The steps run once each, in order (``_steps``): ``checklist_files`` (the files, includes, env
files, vars and file-level keys), ``stack_compose`` (the stack's services), ``check_building``
(each check interpolated, validated and built; then `needs`). Each records its problems as data
(``errors.Problems``) and goes on past them where it safely can; they reach the one place here
that raises them together, sorted and masked, to the command's error handler.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from jobcheck.check_building import build_checks
from jobcheck.checklist import Check, Checklist, ChecklistSpec
from jobcheck.checklist_files import FileLoader
from jobcheck.dotenv_files import InterpolationError, interpolated, read_dotenv
from jobcheck.errors import ChecklistError, ChecklistErrors, Location
from jobcheck.secrets import (
    Masker,
    SecretSources,
    looks_secret,
    mask_fields,
    shown,
    values_under_secret_keys,
)
from jobcheck.stack_compose import stack_ports_of
from jobcheck.yamlsrc import parse

DEFAULT_FILES = ("jobcheck.yaml", "checklists/release.yaml")


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
    loader = FileLoader(environ)
    try:
        spec, checks = _steps(path, loader)
    except ChecklistError as exc:
        # A load error may quote an interpolated value: a secret must not show there either.
        raise _masked(exc, secret_sources(loader).masker(environ)) from None
    secrets = secret_sources(loader, checks, stack_env_values(spec, path.parent, environ))
    checklist = Checklist(
        name=spec.name,
        path=path,
        checks=checks,
        stack=spec.stack,
        secrets=secrets,
        files=[s.path for s in loader.sources],
        vars=dict(loader.variables),
        file_env=dict(loader.file_env),
        env_files=list(loader.env_paths),
    )
    # What a check says about itself is shown everywhere: a secret interpolated into it is
    # masked here, once, at load. The options the kind runs with are left as they are.
    mask = shown(secrets.masker(environ))
    checklist.name = mask(checklist.name)
    for check in checks:
        check.mask_shown(mask)
    return checklist


def _steps(path: Path, loader: FileLoader) -> tuple[ChecklistSpec, list[Check]]:
    """The three steps, each once. Each records its problems in ``loader.problems`` and goes
    on where it safely can; all of them are raised here together, in file and line order."""
    problems = loader.problems
    spec = loader.load(parse(path), {}, [path])  # 1: files, includes, env files, vars
    checks: list[Check] = []
    if spec is not None:
        ports = stack_ports_of(spec, path.parent, known=not loader.stack_unusable)  # 2: compose
        entries, lookup, unresolved = loader.entries, loader.lookup, loader.unresolved
        checks = build_checks(entries, lookup, ports, problems, unresolved)  # 3: checks, needs
    if spec is None or problems:
        raise problems.together(loader.read)
    return spec, checks


# Options of jobcheck's own kinds whose names look secret but hold file paths or key names
# (`env: {same_keys_as: .env.example}`, `service: {env_keys: [API_KEY]}`): masking them would
# hide which file or key a finding is about, and reveal nothing.
NAMES_NOT_SECRETS = frozenset({"same_keys_as", "secrets_from", "env_keys"})


def secret_sources(
    loader: FileLoader,
    checks: Sequence[Check] = (),
    stack_env: Sequence[Mapping[str, str]] = (),
) -> SecretSources:
    """What the checklist holds secret (see SecretSources), from what was loaded: the values
    of secret-looking and declared names in its vars, env files and the stack's env files,
    the declared names' values in the environment, and literals under secret-looking keys of
    the checks' options (each once)."""
    names = sorted(set(loader.secrets))
    sources: list[Mapping[str, str]] = [loader.variables, loader.file_env, *stack_env]
    guessed = {v: None for source in sources for k, v in source.items() if looks_secret(k) and v}
    for check in checks:
        given = check.options.model_dump(mode="json", exclude_unset=True)  # what the user wrote
        for name in NAMES_NOT_SECRETS.intersection(given):
            del given[name]
        guessed.update(dict.fromkeys(values_under_secret_keys(given)))
    declared = {v: None for source in sources for k, v in source.items() if k in names and v}
    declared.update(dict.fromkeys(loader.env[k] for k in names if loader.env.get(k)))
    return SecretSources(tuple(names), tuple(guessed), tuple(declared))


def stack_env_values(
    spec: ChecklistSpec, base: Path, environ: Mapping[str, str]
) -> list[dict[str, str]]:
    """The values of the env files Compose reads for the stack (``stack.env_file``, and the
    ``.env`` beside the first compose file), as Compose interpolates them: their secrets
    (REDIS_PASSWORD, ...) are masked in every output too. A file that cannot be read is left
    out here: ``jobcheck stack`` and the compose kind stop on it and say why."""
    stack = spec.stack
    if stack is None:
        return []
    paths = [base / stack.env_file] if stack.env_file else []
    paths += [(base / stack.compose[0]).parent / ".env"] if stack.compose else []
    found = []
    for env_path in dict.fromkeys(p.resolve() for p in paths):
        if not env_path.is_file():
            continue
        try:
            found.append(interpolated(read_dotenv(env_path), environ))
        except (OSError, UnicodeDecodeError, InterpolationError):
            continue
    return found


def _masked(exc: ChecklistError, masker: Masker) -> ChecklistError:
    errors = exc.errors if isinstance(exc, ChecklistErrors) else [exc]
    for error in errors:
        mask_fields(error, ("problem", "expected", "seen", "hint", "source_line"), masker)
        error.message = error.problem
    return exc
