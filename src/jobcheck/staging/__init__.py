"""The staging stack's lifecycle behind `jobcheck stack`: the Compose CLI drives it (the
Docker SDK reads it through ``jobcheck.probes.engine``).

Nothing here imports ``docker`` at module load: the SDK is imported by the functions that use
it, so a checklist without Docker checks never pays for it.
"""

from __future__ import annotations
