"""The configuration's JSON Schema, for editors (``syncd config schema``).

Generated from the pydantic models, so it cannot drift from what ``config check``
accepts; it describes the file as people write it (``5%``, ``15m``, ``${VAR}`` in any
text), not the values the models hold. Checks that span sections (a connector naming
a source that does not exist, what a vendor can do) stay ``config check``'s.
"""

from __future__ import annotations

from typing import Any

from syncd.config.schema.models import Config

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a syncd configuration file."""
    schema = Config.model_json_schema(mode="validation")
    for definition in schema.get("$defs", {}).values():
        _defaults_filled_on_load(definition)
    return {
        "$schema": DIALECT,
        "title": "syncd configuration",
        "description": (
            "The YAML configuration of syncd (config/example.yaml). `syncd config check` "
            "validates it fully, references between sections and vendor capabilities included."
        ),
        **{key: value for key, value in schema.items() if key != "title"},
    }


_FILLED_ON_LOAD = frozenset({"rate_limit"})
"""Keys a model requires but the loader fills from the vendor's documented defaults."""


def _defaults_filled_on_load(definition: dict[str, Any]) -> None:
    required = definition.get("required")
    if required:
        kept = [name for name in required if name not in _FILLED_ON_LOAD]
        if kept:
            definition["required"] = kept
        else:
            del definition["required"]
