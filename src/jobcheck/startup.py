"""Start-up with the cyclic garbage collector paused.

Starting jobcheck builds many objects that live as long as the process (modules, classes,
pydantic schemas, Typer's adapters) and frees almost none: the collector would walk them about
80 times for nothing (~13 ms of a one-check run's CPU, issue 25). The entry point pauses it
before it imports the CLI; the one error handler (``commands.handle``) resumes it when a
command's body starts, with what start-up built frozen (``gc.freeze``: never walked again), so a
long run collects as before. When the entry point returns, ``finish`` unfreezes them, for a
caller that runs jobcheck in its own process (tests).
"""

from __future__ import annotations

import gc

_state = {"paused": False, "frozen": False}


def pause() -> None:
    """Pause the collector if it runs (the entry point, before importing the CLI)."""
    if gc.isenabled():
        gc.disable()
        _state["paused"] = True


def resume() -> None:
    """Resume the collector paused by ``pause``, start-up's objects frozen; else nothing."""
    if _state["paused"]:
        _state["paused"] = False
        gc.freeze()
        _state["frozen"] = True
        gc.enable()


def finish() -> None:
    """The entry point returns: the collector as it was before ``pause``, nothing frozen."""
    resume()
    if _state["frozen"]:
        _state["frozen"] = False
        gc.unfreeze()
