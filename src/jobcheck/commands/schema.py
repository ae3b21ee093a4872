"""``jobcheck schema``: the JSON Schema of the checklist format."""

from __future__ import annotations

import json

from jobcheck.schema_gen import checklist_schema


def schema() -> int:
    print(json.dumps(checklist_schema(), indent=2))
    return 0
