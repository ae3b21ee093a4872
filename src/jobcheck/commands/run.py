"""``jobcheck run``: the gate, as the request says."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO

from jobcheck.pipeline import GateRequest, run_gate


def run(request: GateRequest, environ: Mapping[str, str], out: IO[str] | None = None) -> int:
    return run_gate(request, environ, out).exit_code
