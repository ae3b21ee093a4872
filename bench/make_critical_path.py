"""Write a 20-check checklist whose critical path is 2 s (four 0.5 s checks in a chain).

The other 16 checks take 0.1-0.5 s each and depend on nothing, so with enough workers the
wall time should be the critical path plus jobcheck's own overhead.
"""

from __future__ import annotations

import sys
from pathlib import Path


def checklist() -> str:
    lines = [
        "version: 1",
        "name: critical path 2s",
        "defaults: {owner: '@bench', expect: exits 0, rollback: none}",
        "checks:",
    ]
    for i in range(4):
        needs = f", needs: [chain{i - 1}]" if i else ""
        lines.append(f"  - {{id: chain{i}, kind: command, with: {{run: 'sleep 0.5'}}{needs}}}")
    for i in range(16):
        seconds = 0.1 + (i % 5) * 0.1
        lines.append(f"  - {{id: side{i}, kind: command, with: {{run: 'sleep {seconds:.1f}'}}}}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "critical-path.yaml")
    target.write_text(checklist())
    print(target)
