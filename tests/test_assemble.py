"""Building the parts from the configuration: what a connector's adapter is given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine

from syncd.assemble import adapter_context, creatable_group_kinds
from syncd.config import ConnectorConfig
from syncd.state.limiter import SqlBackend


def connector(**overrides: Any) -> ConnectorConfig:
    data: dict[str, Any] = {
        "name": "lms",
        "source": "hr",
        "schedule": {"every": "15m"},
        "target": {"type": "talentlms", "base_url": "https://acme.talentlms.com", "api_key": "k"},
        "users": {"fields": {"login": "{{ employee_id }}"}, "match": "login"},
        **overrides,
    }
    return ConnectorConfig.model_validate(data)


def test_create_missing_is_decided_per_kind():
    kinds = creatable_group_kinds(
        connector(
            groups=[
                {"from": "{{ site }}", "kind": "branch", "create_missing": True},
                {"from": "{{ department }}"},
            ]
        )
    )

    assert "branch" in kinds
    assert "group" not in kinds


def test_the_adapter_is_given_typed_pull_settings_and_the_stores_limiter(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'state.db'}")
    pull = {"sink": "hr", "start_date": "2024-01-31", "overlap": "2h", "budget_share": 0.25}
    try:
        context = adapter_context(connector(pull=pull), engine)
    finally:
        engine.dispose()

    assert (context.connector, context.match) == ("lms", "login")
    assert context.pull.start_date == datetime(2024, 1, 31, tzinfo=UTC)
    assert context.pull.overlap == timedelta(hours=2)
    assert context.pull.budget_share == 0.25
    assert isinstance(context.limiter, SqlBackend)
