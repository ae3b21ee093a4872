"""The JSON Schema of the checklist format, for editors (yaml-language-server)."""

from __future__ import annotations

from typing import Any

from jobcheck import kinds
from jobcheck.checklist import SCHEMA_URL, ChecklistSpec


def checklist_schema() -> dict[str, Any]:
    schema = ChecklistSpec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_URL
    schema["title"] = "jobcheck checklist"
    defs = schema.setdefault("$defs", {})
    check = defs["CheckSpec"]
    rules = []
    names = kinds.names()
    for name in names:
        options = kinds.get_kind(name).options.model_json_schema(
            by_alias=True, ref_template="#/$defs/{model}"
        )
        defs.update(options.pop("$defs", {}))
        options["title"] = f"{name} options"
        rules.append(
            {
                "if": {"properties": {"kind": {"const": name}}},
                "then": {"properties": {"with": options}},
            }
        )
    check["properties"]["kind"]["enum"] = names
    check["allOf"] = rules
    return schema
