"""Which Docker engine to talk to, chosen the way the docker CLI chooses it, and how to reach it.

Order (as `docker` itself): the checklist's ``stack.context`` (like ``docker --context``),
then ``DOCKER_HOST``, then ``DOCKER_CONTEXT``, then the ``currentContext`` of the Docker
config (``docker context use``), else the local socket. Contexts are read from the docker
CLI's own store (``$DOCKER_CONFIG``, default ``~/.docker``), so `docker context create`
makes them.

An ``ssh://`` engine is reached through the system's ``ssh`` client (the Docker SDK with
``use_ssh_client``, and docker-compose v1's default), so ``~/.ssh/config`` (host aliases,
keys, ports) applies to both; before the first SDK call, one ``ssh ... docker version`` with
a short timeout tells an unreachable host apart quickly and in ssh's own words.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from jobcheck.process import run_process

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
DEFAULT_CONTEXT = "default"
SSH_PROBE_TIMEOUT_S = 10.0
LOCAL_HINT = "start it with `sudo dockerd &`, `bash scripts/engine.sh` or `systemctl start docker`"


@dataclass(frozen=True)
class Endpoint:
    """An engine address and what chose it (for messages: ``ssh://h (DOCKER_HOST)``)."""

    url: str
    chosen_by: str  # "DOCKER_HOST", "context staging (stack.context)", "" for the default
    context: str = ""  # the context's name when one chose it
    tls_dir: Path | None = None  # the context's ca.pem, cert.pem, key.pem
    skip_tls_verify: bool = False

    def __str__(self) -> str:
        return f"{self.url} ({self.chosen_by or 'DOCKER_HOST is unset'})"

    @property
    def ssh(self) -> bool:
        return self.url.startswith("ssh://")

    @property
    def chosen(self) -> bool:
        """Chosen by the user (DOCKER_HOST or a context), not the local default socket."""
        return bool(self.chosen_by)

    @property
    def remote(self) -> bool:
        """Reached over the network (ssh://, tcp://), not through a local socket."""
        return not self.url.startswith(("unix://", "npipe://"))

    @property
    def on(self) -> str:
        """`` on ssh://root@host:22`` for messages about a remote engine, else '' (a local
        socket, even one named by DOCKER_HOST, is the engine every message assumes)."""
        return f" on {self.url}" if self.remote else ""

    def hint(self) -> str:
        """How to check the engine by hand, for an unreachable one."""
        if self.ssh:
            return f"try `{ssh_command(self.url, 'docker version')}` from this machine"
        if self.url.startswith("tcp://"):
            return f"try `docker -H {self.url} version` from this machine"
        return LOCAL_HINT

    def cli_env(self, env: Mapping[str, str]) -> dict[str, str]:
        """The environment for the Compose CLI (v1 reads no contexts): the engine a context
        chose becomes DOCKER_HOST (with its TLS files), so both CLIs reach the same engine."""
        merged = dict(env)
        if not self.context:
            return merged
        merged.pop("DOCKER_CONTEXT", None)
        merged["DOCKER_HOST"] = self.url
        if self.tls_dir is not None:
            merged["DOCKER_CERT_PATH"] = str(self.tls_dir)
            merged["DOCKER_TLS_VERIFY"] = "" if self.skip_tls_verify else "1"
        return merged


class ContextProblem(Exception):
    """A Docker context that is named but cannot be used (``str()`` is one line)."""

    def __init__(self, endpoint: Endpoint, problem: str) -> None:
        super().__init__(problem)
        self.endpoint = endpoint
        self.problem = problem


def config_dir(env: Mapping[str, str]) -> Path:
    configured = env.get("DOCKER_CONFIG", "").strip()
    if configured:
        return Path(configured).expanduser()
    home = env.get("HOME") or str(Path.home())
    return Path(home) / ".docker"


def resolve(env: Mapping[str, str], context: str | None = None) -> Endpoint:
    """The engine the docker CLI would use here (see the module's docstring for the order).
    Raises ContextProblem for a context that does not exist or has no Docker endpoint."""
    if context:
        return _from_context(env, context, "stack.context")
    host = env.get("DOCKER_HOST", "").strip()
    if host:
        return Endpoint(host, "DOCKER_HOST")
    named = env.get("DOCKER_CONTEXT", "").strip()
    if named:
        return _from_context(env, named, "DOCKER_CONTEXT")
    current = _current_context(env)
    if current:
        return _from_context(env, current, "docker context use")
    return Endpoint(DEFAULT_SOCKET, "")


def _current_context(env: Mapping[str, str]) -> str:
    try:
        config = json.loads((config_dir(env) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    name = config.get("currentContext") if isinstance(config, dict) else None
    return name if isinstance(name, str) and name != DEFAULT_CONTEXT else ""


def _from_context(env: Mapping[str, str], name: str, source: str) -> Endpoint:
    if name == DEFAULT_CONTEXT:
        host = env.get("DOCKER_HOST", "").strip()
        return Endpoint(host, "DOCKER_HOST") if host else Endpoint(DEFAULT_SOCKET, "")
    # The docker CLI's store: contexts/meta/<sha256 of the name>/meta.json, TLS files beside.
    key = hashlib.sha256(name.encode()).hexdigest()
    store = config_dir(env) / "contexts"
    meta_file = store / "meta" / key / "meta.json"
    chosen_by = f"context {name} ({source})"
    unusable = Endpoint(f"context {name}", source, context=name)
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ContextProblem(
            unusable,
            f"Docker context {name!r} does not exist (looked in {store}); create it with "
            f"`docker context create {name} --docker host=ssh://USER@HOST`",
        ) from None
    except (OSError, ValueError) as exc:
        raise ContextProblem(unusable, f"Docker context {name!r} cannot be read: {exc}") from None
    docker = ((meta.get("Endpoints") or {}).get("docker") or {}) if isinstance(meta, dict) else {}
    host = str(docker.get("Host") or "").strip()
    if not host:
        raise ContextProblem(unusable, f"Docker context {name!r} has no Docker endpoint (Host)")
    tls = store / "tls" / key / "docker"
    return Endpoint(
        host,
        chosen_by,
        context=name,
        tls_dir=tls if (tls / "ca.pem").is_file() or (tls / "cert.pem").is_file() else None,
        skip_tls_verify=bool(docker.get("SkipTLSVerify")),
    )


def ssh_argv(url: str, remote_command: str) -> list[str]:
    """``ssh [-l USER] [-p PORT] -- HOST COMMAND`` as the Docker SDK builds it."""
    parts = urlsplit(url)
    argv = ["ssh"]
    if parts.username:
        argv += ["-l", parts.username]
    if parts.port:
        argv += ["-p", str(parts.port)]
    return [*argv, "--", parts.hostname or "", remote_command]


def ssh_command(url: str, remote_command: str) -> str:
    """The same as a user would type it: ``ssh -p 2222 root@host docker version``."""
    parts = urlsplit(url)
    target = f"{parts.username}@{parts.hostname}" if parts.username else parts.hostname or ""
    port = f"-p {parts.port} " if parts.port else ""
    return f"ssh {port}{target} {remote_command}"


def probe_ssh(endpoint: Endpoint, env: Mapping[str, str], timeout_s: float) -> str:
    """'' when ``ssh`` reaches the host and its `docker version` answers, else why not, in
    ssh's (or the remote shell's) own last words. Non-interactive: a password prompt or an
    unknown host key is a failure, not a wait."""
    argv = ssh_argv(endpoint.url, "docker version --format '{{.Server.Version}}'")
    argv[1:1] = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={max(1, round(timeout_s))}"]
    result = run_process(argv, timeout_s=timeout_s, env=dict(env))
    if result.not_found:
        return "the ssh client was not found (apt-get install -y openssh-client)"
    if result.timed_out:
        return f"ssh gave no answer within {timeout_s:g}s"
    if result.returncode == 0 and result.stdout.strip():
        return ""
    said = [" ".join(line.split()) for line in (result.stderr + result.stdout).splitlines()]
    last = next((line for line in reversed(said) if line), "")
    shown = shlex.join(argv)
    return (last or f"`{shown}` exited {result.returncode}")[:200]
