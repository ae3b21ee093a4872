"""jobcheck: a production-readiness gate for Python services that run background jobs."""

from __future__ import annotations

__version__ = "0.1.0"
