"""Configuration files for tests that run syncd against the sandbox.

Tests build their YAML from plain dicts so that each one states only what it
changes; ``write_config`` adds the parts every test repeats (the state store and
the CSV HR source read from ``hr.csv`` next to the configuration).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# TalentLMS account fields most tests map from the HR file.
TALENTLMS_FIELDS = {
    "login": "{{ employee_id }}",
    "name": "{{ first_name }}",
    "surname": "{{ last_name }}",
    "email": "{{ email }}",
}


def config_document(
    tmp_path: Path, state_url: str, *connectors: dict[str, Any], **sections: Any
) -> dict[str, Any]:
    """A configuration with an ``hr`` CSV source read from ``tmp_path / "hr.csv"``.

    ``sections`` are further top-level keys (``log``, ``server``, ``sinks`` ...).
    """
    return {
        "state": {"url": state_url},
        "sources": {"hr": {"type": "csv", "path": str(tmp_path / "hr.csv"), "key": "employee_id"}},
        **sections,
        "connectors": list(connectors),
    }


def write_config(
    tmp_path: Path, state_url: str, *connectors: dict[str, Any], **sections: Any
) -> Path:
    """Write ``config_document(...)`` to ``tmp_path / "syncd.yaml"``; return its path."""
    return save_config(
        tmp_path / "syncd.yaml", config_document(tmp_path, state_url, *connectors, **sections)
    )


def save_config(path: Path, document: dict[str, Any]) -> Path:
    """Write ``document`` as YAML to ``path``; return the path."""
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def talentlms_connector(name: str, base_url: str, api_key: str, **changes: Any) -> dict[str, Any]:
    """A TalentLMS connector matching by email, every 15 minutes; ``changes`` replace
    or add keys of the connector (``groups``, ``guard``, ``pull``, ``schedule`` ...)."""
    return {
        "name": name,
        "source": "hr",
        "schedule": {"every": "15m"},
        "target": {"type": "talentlms", "base_url": base_url, "api_key": api_key},
        "users": {"match": "email", "fields": dict(TALENTLMS_FIELDS)},
        **changes,
    }
