"""The ``jobcheck`` entry point: ``--version`` answers before Typer (or anything) is imported."""

from __future__ import annotations

import sys

from jobcheck import __version__, startup


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:
        print(f"jobcheck {__version__}")
        sys.exit(0)
    startup.pause()  # resumed when the command's body starts (commands.handle)
    try:
        from jobcheck.cli import run_app  # lazy: Typer: `--version` is answered without it

        run_app(args)
    finally:
        startup.finish()


if __name__ == "__main__":
    main()
