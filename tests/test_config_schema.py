"""``syncd config schema``: the JSON Schema an editor validates the configuration with."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from syncd.config.yamlfile import _Loader
from tests.support.cli import run_syncd

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "config").glob("*.yaml"))


@pytest.fixture(scope="module")
def schema() -> dict:
    result = run_syncd("config", "schema", without=["SYNCD_CONFIG"])
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(printed)
    return printed


def problems(schema: dict, document: object) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return [
        "/".join(map(str, error.absolute_path)) + ": " + error.message
        for error in validator.iter_errors(document)
    ]


def read(path: Path) -> object:
    """The file as an editor reads it: dates stay text, as syncd reads them."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)


def test_every_shipped_example_is_valid_under_the_printed_schema(schema):
    assert {path.name for path in EXAMPLES} >= {"example.yaml", "more-vendors.example.yaml"}
    for path in EXAMPLES:
        assert problems(schema, read(path)) == [], path.name


def test_the_schema_describes_values_as_the_file_writes_them(schema):
    document = read(ROOT / "config" / "example.yaml")
    connector = document["connectors"][0]
    connector["guard"]["max_deactivations"] = 25
    connector["schedule"] = {"cron": "0 2 * * *", "timezone": "Europe/Berlin"}
    assert problems(schema, document) == []


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda c: c.update(schedul={"every": "15m"}), "connectors/0"),
        (lambda c: c.update(schedule={"every": 15}), "connectors/0/schedule/every"),
        (lambda c: c["guard"].update(max_deactivations="lots"), "connectors/0/guard"),
        (lambda c: c["target"].update(type="moodle"), "connectors/0/target"),
        (lambda c: c["users"].update(on_missing="archive"), "connectors/0/users/on_missing"),
    ],
)
def test_mistakes_are_refused_where_they_are(schema, change, where):
    document = read(ROOT / "config" / "example.yaml")
    change(document["connectors"][0])
    found = problems(schema, document)
    assert found, "the schema accepted a broken configuration"
    assert any(problem.startswith(where) for problem in found), found
