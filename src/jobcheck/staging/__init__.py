"""The Docker staging stack: the Compose CLI to drive it, the Docker SDK to inspect it.

Nothing here imports ``docker`` at module load: the SDK is imported by the functions that use
it, so a checklist without Docker checks never pays for it.
"""

from __future__ import annotations
