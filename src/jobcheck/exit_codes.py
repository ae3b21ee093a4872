"""The exit codes, decided here only (the contract: DESIGN.md section 2)."""

from __future__ import annotations

OK = 0  # every blocker passed or was waived
FAILED = 1  # a blocker failed or errored; a refusal (release); a report that was not written
USAGE = 2  # usage or checklist error: nothing ran
INTERNAL = 3  # a bug in jobcheck: "report it"
INTERRUPTED = 130  # Ctrl-C or SIGTERM: the report is still written
