"""Building the parts from the configuration: what a connector's adapter is given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine

from syncd.assemble import adapter_context, creatable_group_kinds
from syncd.assemble.checks import load_config
from syncd.assemble.cycles import push_settings
from syncd.config import ConnectorConfig
from syncd.model import DesiredUser
from syncd.state.limiter import SqlBackend
from tests.support.configs import TALENTLMS_FIELDS, talentlms_connector, write_config


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


def test_a_push_builds_its_adapter_only_when_it_needs_the_vendor_but_refuses_a_bad_match_at_once(
    tmp_path,
):
    """A push with nothing to send never needs the vendor, so its adapter is built on first
    use; a ``users.match`` the vendor cannot find accounts by is still refused up front."""
    state = f"sqlite:///{tmp_path / 'state.db'}"
    engine = create_engine(state)
    fields = {**TALENTLMS_FIELDS, "custom_field_1": "{{ employee_id }}"}
    good = talentlms_connector("lms", "https://acme.talentlms.com", "k")
    bad = talentlms_connector(
        "bad",
        "https://acme.talentlms.com",
        "k",
        users={"match": "custom_field_1", "fields": fields},
    )
    try:
        config = load_config(write_config(tmp_path, state, good, bad))
        settings = push_settings(config, "lms", engine)
        assert not settings.adapter.built
        assert settings.adapter.capabilities.groups  # what TalentLMS can do, read from its facts
        assert settings.adapter.arrange([]) == [] and settings.adapter.api_calls == 0
        assert settings.adapter.validate(DesiredUser("E1", {"login": "E1"})) is not None
        assert settings.adapter.built
        settings.adapter.close()
        with pytest.raises(ValueError, match="email or login only"):
            push_settings(config, "bad", engine)
    finally:
        engine.dispose()
