from __future__ import annotations

from jobcheck.cli import main

if __name__ == "__main__":
    main()
