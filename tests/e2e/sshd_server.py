"""A throwaway OpenSSH server on 127.0.0.1, so ``ssh://root@127.0.0.1:PORT`` reaches this
machine's own engine socket through a real ssh hop (the remote-engine tests).

Everything lives in one temporary folder: a host key, a client key, ``authorized_keys``, an
``sshd_config`` (key auth only, no password, ``ListenAddress 127.0.0.1``), and for the client
an ``ssh_config`` plus a ``bin/ssh`` wrapper that runs ``ssh -F ssh_config``. Put ``bin`` first
on PATH and every ssh the Docker SDK, docker-compose and the docker CLI start uses that config:
root's ``~/.ssh`` is never read or written (OpenSSH reads the passwd home, not $HOME, so a
temporary HOME would not do).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")
START_DEADLINE_S = 15.0
INSTALL_HINT = "install it with `bash scripts/host-services.sh` (Debian's openssh-server)"


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "jobcheck-test", "-f", str(path)],
        check=True,
        timeout=30,
    )


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class SshServer:
    folder: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)
    control: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.folder / "sshd.log"
        # A unix socket path must stay under 108 bytes: pytest's tmp folders are too deep.
        self.control = Path(tempfile.mkdtemp(prefix="jcssh-", dir="/tmp"))

    @property
    def url(self) -> str:
        return f"ssh://root@127.0.0.1:{self.port}"

    @property
    def bin_dir(self) -> Path:
        return self.folder / "bin"

    def client_env(self, env: dict[str, str] | None = None) -> dict[str, str]:
        """``env`` (default: os.environ) with the ssh wrapper first on PATH."""
        base = dict(os.environ if env is None else env)
        base["PATH"] = f"{self.bin_dir}{os.pathsep}{base.get('PATH', os.defpath)}"
        return base

    def prepare(self) -> None:
        f = self.folder
        f.mkdir(parents=True, exist_ok=True)
        _keygen(f / "host_key")
        _keygen(f / "client_key")
        (f / "authorized_keys").write_text((f / "client_key.pub").read_text())
        (f / "sshd_config").write_text(
            f"ListenAddress 127.0.0.1\nPort {self.port}\nHostKey {f}/host_key\n"
            f"PidFile {f}/sshd.pid\nAuthorizedKeysFile {f}/authorized_keys\n"
            "PubkeyAuthentication yes\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
            "UsePAM no\nStrictModes no\nX11Forwarding no\nAllowTcpForwarding no\n"
            # root's ~/.bashrc on this machine runs `pyenv init` (0.8 s), and bash reads it for
            # every ssh command; the Docker SDK opens one ssh session per HTTP request. A staging
            # host's shell starts in milliseconds: sessions get an empty HOME, as cheap as there.
            f"SetEnv HOME={f}/remote-home\n"
        )
        (f / "remote-home").mkdir(exist_ok=True)
        host_key = (f / "host_key.pub").read_text().split()
        (f / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {host_key[0]} {host_key[1]}\n")
        (f / "ssh_config").write_text(
            "Host 127.0.0.1\n"
            f"  IdentityFile {f}/client_key\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {f}/known_hosts\n  StrictHostKeyChecking yes\n"
            "  BatchMode yes\n  ConnectTimeout 5\n  LogLevel ERROR\n"
            # One ssh connection, many sessions: what docs/stack.md recommends to users too.
            f"  ControlMaster auto\n  ControlPath {self.control}/%C\n  ControlPersist 30s\n"
        )
        self.bin_dir.mkdir(exist_ok=True)
        wrapper = self.bin_dir / "ssh"
        wrapper.write_text(f'#!/bin/sh\nexec /usr/bin/ssh -F {f}/ssh_config "$@"\n')
        wrapper.chmod(0o755)

    def start(self) -> None:
        """Start sshd in the foreground (-D) and wait until it accepts connections."""
        if _listening(self.port):
            raise RuntimeError(f"127.0.0.1:{self.port} is already taken; is another sshd running?")
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation folder
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(SSHD), "-D", "-e", "-f", str(self.folder / "sshd_config")],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_DEADLINE_S
        while not _listening(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"sshd did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)

    def close_master(self) -> None:
        """End the client's shared connection (ControlMaster): the next ssh logs in anew."""
        subprocess.run(
            ["ssh", "-O", "exit", "-p", str(self.port), "root@127.0.0.1"],
            env=self.client_env(),
            capture_output=True,
            timeout=10,
        )

    def stop(self) -> None:
        if self.process is None:
            return
        self.close_master()  # it would outlive sshd
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None
        shutil.rmtree(self.control, ignore_errors=True)
        deadline = time.monotonic() + 10
        while _listening(self.port) and time.monotonic() < deadline:
            time.sleep(0.1)
