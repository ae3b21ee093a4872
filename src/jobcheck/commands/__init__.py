"""One thin module per CLI command: plain values in, an exit code out.

Every command body runs inside ``handle``, the one place where errors become a message and an
exit code: a user's mistake is exit 2, a refusal or failure 1, Ctrl-C 130, and anything else is
an internal error, exit 3, with "report it".
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

from jobcheck import exit_codes, startup
from jobcheck.errors import JobcheckError

log = logging.getLogger("jobcheck")


def handle(action: Callable[[], int], *, debug: bool = False) -> int:
    """Run a command body; every way it can end becomes an exit code here, and only here."""
    startup.resume()  # the garbage collector, paused while jobcheck started (see startup.py)
    try:
        return action()
    except JobcheckError as exc:
        if debug:
            log.exception("error")
        print(exc.render(), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return exit_codes.INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()  # `jobcheck schema | head -1`: the reader left; that is not an error
        return exit_codes.OK
    except Exception as exc:
        if debug:
            raise
        print(
            f"internal error: {type(exc).__name__}: {exc}\n  hint: re-run with --debug "
            "for the traceback, and report it",
            file=sys.stderr,
        )
        return exit_codes.INTERNAL


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush raises nothing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
