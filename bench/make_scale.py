"""Write a checklist of N trivial checks (or a `needs` chain of N) for the scale measurements.

    python bench/make_scale.py 10000 > /tmp/wide.yaml            # independent checks
    python bench/make_scale.py 5000 --chain > /tmp/chain.yaml    # each check needs the one before
    /usr/bin/time -v jobcheck run /tmp/wide.yaml --no-color --jobs 2

See docs/scale.md for the figures this produced.
"""

from __future__ import annotations

import argparse
import sys


def checklist(count: int, *, chain: bool = False, command: str = "/usr/bin/true") -> str:
    lines = [
        "version: 1",
        f"name: scale {count}{' chain' if chain else ''}",
        'defaults: {owner: "@bench", expect: exits 0, rollback: nothing to roll back}',
        "checks:",
    ]
    for i in range(count):
        needs = f", needs: [c{i - 1}]" if chain and i else ""
        lines.append(f"  - {{id: c{i}, kind: command, with: {{run: {command}}}{needs}}}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int)
    parser.add_argument("--chain", action="store_true", help="each check needs the one before")
    args = parser.parse_args(argv)
    sys.stdout.write(checklist(args.count, chain=args.chain))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
