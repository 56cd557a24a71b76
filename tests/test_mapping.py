"""The mapping engine: HR record in, desired LMS user out, or an error naming the template."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.assemble import load_config
from syncd.config import ConnectorConfig
from syncd.mapping import (
    MappingConfigError,
    MappingError,
    compile_connector,
    fingerprint,
)
from syncd.model import BRANCH_PREFIX, LEARNING_PATH_PREFIX, DesiredUser, record_hash

EXAMPLE = Path(__file__).resolve().parent.parent / "config" / "example.yaml"
EXAMPLE_ENV = {"TALENTLMS_API_KEY": "k", "HOWNOW_CLIENT_ID": "c", "HOWNOW_CLIENT_SECRET": "s"}

ANN = {
    "employee_id": "E100",
    "first_name": "Ann",
    "last_name": "Lee",
    "email": "Ann.Lee@Example.COM",
    "status": "active",
    "department": "Engineering",
    "job_title": "Engineer",
}


def connector(**overrides: Any) -> ConnectorConfig:
    """A TalentLMS connector; ``overrides`` replace top-level keys, ``users`` keys merge."""
    data: dict[str, Any] = {
        "name": "lms",
        "source": "hr",
        "schedule": {"every": "15m"},
        "target": {"type": "talentlms", "base_url": "https://acme.talentlms.com", "api_key": "k"},
        "users": {"fields": {"login": "{{ employee_id }}"}},
    }
    users = overrides.pop("users", {})
    data["users"] = {**data["users"], **users}
    data.update(overrides)
    return ConnectorConfig.model_validate(data)


def render(record: dict[str, Any], **overrides: Any) -> DesiredUser:
    return compile_connector(connector(**overrides)).render(record.get("employee_id", "?"), record)


def example_mappers():
    config = load_config(EXAMPLE, EXAMPLE_ENV)
    return {c.name: compile_connector(c) for c in config.connectors}


# --- the SPEC example -------------------------------------------------------------------------


def test_spec_example_talentlms_mapping():
    mapper = example_mappers()["talentlms"]

    user = mapper.render("E100", ANN)

    assert user.hr_key == "E100"
    assert user.fields == {
        "login": "E100",
        "name": "Ann",
        "surname": "Lee",
        "email": "ann.lee@example.com",
    }
    assert user.active is True
    assert user.groups == frozenset({"Engineering Team"})
    assert user.courses == frozenset()
    assert user.source_hash == record_hash(mapper.fingerprint, ANN)


def test_spec_example_sales_person_on_leave_gets_courses_and_stays_active():
    mapper = example_mappers()["talentlms"]

    user = mapper.render("E7", {**ANN, "department": "Sales", "status": "leave"})

    assert user.active is True
    assert user.groups == frozenset({"Sales"})  # unmapped values pass unchanged
    assert user.courses == frozenset({"101", "102"})


def test_spec_example_scope_and_leavers():
    mapper = example_mappers()["talentlms"]

    assert mapper.in_scope(ANN)
    assert not mapper.in_scope({**ANN, "status": "contractor"})
    assert mapper.render("E1", {**ANN, "status": "terminated"}).active is False


def test_spec_example_hownow_nested_fields():
    mapper = example_mappers()["hownow"]

    user = mapper.render("E100", ANN)

    assert user.fields == {
        "external_user_id": "E100",
        "name": "Ann Lee",
        "email": "Ann.Lee@Example.COM",
        "user_type": "ReadOnly",
        "job_role": {"name": "Engineer"},
    }
    assert user.groups == frozenset() and user.courses == frozenset()


# --- errors belong to one record --------------------------------------------------------------


def test_missing_column_fails_that_record_only_and_names_the_field():
    mapper = example_mappers()["talentlms"]
    broken = {k: v for k, v in ANN.items() if k != "last_name"}

    with pytest.raises(MappingError) as caught:
        mapper.render("E200", broken)

    assert caught.value.hr_key == "E200"
    assert caught.value.reason == (
        "users.fields.surname: 'last_name' is undefined (the record has no such column)"
    )
    assert mapper.render("E100", ANN).fields["surname"] == "Lee"  # the next record is fine


def test_missing_column_in_a_nested_field_names_the_nested_key():
    mapper = example_mappers()["hownow"]

    with pytest.raises(MappingError) as caught:
        mapper.render("E300", {k: v for k, v in ANN.items() if k != "job_title"})

    assert caught.value.reason.startswith("users.fields.job_role.name: 'job_title' is undefined")


def test_scope_that_cannot_be_evaluated_is_a_record_error():
    mapper = example_mappers()["talentlms"]

    with pytest.raises(MappingError) as caught:
        mapper.in_scope({"employee_id": "E9"}, hr_key="E9")

    assert caught.value.reason.startswith("scope: 'status' is undefined")


def test_active_that_is_not_a_truth_value_names_the_template():
    with pytest.raises(MappingError) as caught:
        render(ANN, users={"active": "{{ status }}"})

    assert caught.value.reason == (
        "users.active: gave 'active', which is neither true (true/yes/1) "
        "nor false (false/no/0/empty)"
    )


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        ("Yes", True),
        ("TRUE", True),
        ("1", True),
        ("no", False),
        ("0", False),
        ("", False),
        ("None", False),
        (None, False),
        (True, True),
        (0, False),
    ],
)
def test_truth_words_for_active(flag, expected):
    user = render({**ANN, "flag": flag}, users={"active": "{{ flag }}"})

    assert user.active is expected


def test_sandbox_blocks_python_internals():
    with pytest.raises(MappingError) as caught:
        render(ANN, users={"fields": {"x": "{{ employee_id.__class__.__mro__ }}"}})

    assert caught.value.reason.startswith("users.fields.x:")


def test_runtime_type_error_is_a_record_error():
    with pytest.raises(MappingError) as caught:
        render({**ANN, "grade": "A"}, users={"fields": {"level": "{{ grade + 1 }}"}})

    assert caught.value.reason.startswith("users.fields.level: TypeError")


RUNAWAY = {
    "repeated text": "{{ 'A' * 10**10 }}",
    "huge power": "{{ 9 ** 9999999 }}",
    "nested loops": "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}"
    "{% endfor %}",
    "wide format": "{{ '%999999999s' | format('x') }}",
    "wide percent": "{{ '%999999999d' % 1 }}",
    "wide center": "{{ 'x' | center(999999999) }}",
    "exploding replace": "{{ (employee_id ~ 'aaaaaaaaaaaaaaaaaaaa') | replace('a', 'b' * 90000) }}",
    "long list": "{{ [employee_id] * 200000 }}",
}


@pytest.mark.parametrize("template", list(RUNAWAY.values()), ids=list(RUNAWAY))
def test_a_runaway_template_is_that_records_error_and_compiles_at_once(template):
    mapper = compile_connector(
        connector(users={"fields": {"login": "{{ employee_id }}", "custom_field_1": template}})
    )
    with pytest.raises(MappingError) as caught:
        mapper.render("E100", ANN)

    assert caught.value.hr_key == "E100"
    assert caught.value.reason.startswith("users.fields.custom_field_1:")


def test_the_loop_budget_is_renewed_for_every_record():
    loop = "{% for i in range(6000) %}{% endfor %}{{ employee_id }}"
    mapper = compile_connector(connector(users={"fields": {"login": loop}}))
    assert [
        mapper.render(key, {**ANN, "employee_id": key}).fields["login"]
        for key in ("E1", "E2", "E3")
    ] == ["E1", "E2", "E3"]


def _scope_then_render(mapper, hr_key: str, record: dict[str, Any]) -> Any:
    """``in_scope`` then ``render``, each on its own: what ``render_in_scope`` must equal."""
    try:
        return mapper.render(hr_key, record, 7) if mapper.in_scope(record, hr_key) else None
    except MappingError as error:
        return ("error", error.hr_key, error.reason)


def _render_in_scope(mapper, hr_key: str, record: dict[str, Any]) -> Any:
    try:
        return mapper.render_in_scope(hr_key, record, 7)
    except MappingError as error:
        return ("error", error.hr_key, error.reason)


@pytest.mark.parametrize(
    "record",
    [
        ANN,  # in scope, rendered
        {**ANN, "status": "contractor"},  # out of scope
        {"employee_id": "E9"},  # the scope itself fails
        {k: v for k, v in ANN.items() if k != "first_name"},  # in scope, a field fails
    ],
    ids=["rendered", "out of scope", "scope fails", "field fails"],
)
def test_render_in_scope_answers_as_in_scope_then_render(record):
    mapper = example_mappers()["talentlms"]
    key = record["employee_id"]

    assert _render_in_scope(mapper, key, record) == _scope_then_render(mapper, key, record)


def test_render_in_scope_gives_scope_and_render_each_the_whole_loop_budget():
    loop = "{% for i in range(6000) %}{% endfor %}"
    mapper = compile_connector(
        connector(
            scope="range(6000) | length > 0 and status == 'active'",
            users={"fields": {"login": loop + "{{ employee_id }}"}},
        )
    )

    desired = mapper.render_in_scope("E100", ANN)

    assert desired is not None and desired.fields["login"] == "E100"


def test_ordinary_arithmetic_and_repetition_still_work():
    desired = render(
        ANN,
        users={
            "fields": {
                "login": "{{ employee_id }}",
                "custom_field_1": (
                    "{{ 2 ** 10 }}-{{ '-' * 3 }}-{{ '%05d' % 42 }}-{{ 'ab' | center(6) }}"
                ),
            }
        },
    )
    assert desired.fields["custom_field_1"] == "1024-----00042-  ab  "


# --- templates --------------------------------------------------------------------------------


def test_single_expressions_keep_native_types_and_other_templates_render_text():
    record = {**ANN, "age": "42", "start": "2024-03-01", "manager": None}
    fields = {
        "age": "{{ age | int }}",
        "is_active": "{{ status == 'active' }}",
        "tags": "{{ ['a', department] }}",
        "label": "{{ first_name }}-{{ age }}",
        "manager": "{{ manager }}",
        "manager_text": "Manager: {{ manager }}",
        "constant": 7,
        "nested": [{"id": "{{ employee_id }}"}, "plain"],
    }

    user = render(record, users={"fields": fields})

    assert user.fields == {
        "age": 42,
        "is_active": True,
        "tags": ["a", "Engineering"],
        "label": "Ann-42",
        "manager": None,
        "manager_text": "Manager: ",  # a NULL prints as nothing, not "None"
        "constant": 7,
        "nested": [{"id": "E100"}, "plain"],
    }


def test_date_filter():
    record = {**ANN, "start": "2024-03-01T08:30:00Z", "end": "31/12/2025", "left": ""}
    fields = {
        "start": "{{ start | date('%d.%m.%Y') }}",
        "end": "{{ end | date('%Y-%m-%d', '%d/%m/%Y') }}",
        "left": "{{ left | date }}",
    }

    assert render(record, users={"fields": fields}).fields == {
        "start": "01.03.2024",
        "end": "2025-12-31",
        "left": "",
    }
    with pytest.raises(MappingError) as caught:
        render({**ANN, "start": "March 1st"}, users={"fields": {"s": "{{ start | date }}"}})
    assert caught.value.reason == (
        "users.fields.s: date: cannot read 'March 1st' as ISO 8601 (e.g. 2024-03-31)"
    )


def test_set_in_one_template_does_not_leak_into_the_next():
    fields = {
        "a": "{% set who = 'x' %}{{ who }}",
        "b": "{{ who | default('unset') }}",
    }

    assert render(ANN, users={"fields": fields}).fields == {"a": "x", "b": "unset"}


def test_default_filter_covers_a_missing_column():
    user = render(ANN, users={"fields": {"phone": "{{ phone | default('n/a') }}"}})

    assert user.fields["phone"] == "n/a"


# --- groups and enrollments -------------------------------------------------------------------


def test_groups_map_values_and_accept_lists():
    record = {**ANN, "teams": "Blue, Red,,  Green ", "site": "ATH", "cost_center": ""}
    groups = [
        {"from": "{{ department }}", "map": {"Engineering": "Engineering Team"}},
        {"from": "{{ teams | split }}", "map": {"Red": "Red Team", "Green": ""}},
        {"from": "{{ cost_center }}"},
        {"from": "{{ site }}", "kind": "branch", "map": {"ATH": "Athens"}},
        {"from": "All staff"},
    ]

    user = render(record, groups=groups)

    assert user.groups == frozenset(
        {"Engineering Team", "Blue", "Red Team", BRANCH_PREFIX + "Athens", "All staff"}
    )


def test_group_rule_giving_a_mapping_is_a_record_error():
    with pytest.raises(MappingError) as caught:
        render(ANN, groups=[{"from": "{{ {'a': 1} }}"}])

    assert caught.value.reason.startswith("groups[0].from: gave {'a': 1}; expected a group name")


def test_enrollments_are_the_union_of_rules_that_hold():
    enrollments = [
        {"when": "{{ department == 'Sales' }}", "courses": [101, 102]},
        {"when": "{{ status == 'active' }}", "courses": [102, "intro-7"], "learning_paths": [5]},
        {"when": "{{ job_title == 'Manager' }}", "courses": [900]},
        {"courses": [1]},  # when defaults to true: everyone
    ]

    sales = render({**ANN, "department": "Sales"}, enrollments=enrollments)
    engineer = render(ANN, enrollments=enrollments)

    assert sales.courses == frozenset({"101", "102", "intro-7", LEARNING_PATH_PREFIX + "5", "1"})
    assert engineer.courses == frozenset({"102", "intro-7", LEARNING_PATH_PREFIX + "5", "1"})


def test_scope_accepts_an_expression_with_or_without_braces():
    for scope in ("department != 'Sales'", "{{ department != 'Sales' }}"):
        mapper = compile_connector(connector(scope=scope))
        assert mapper.in_scope(ANN)
        assert not mapper.in_scope({**ANN, "department": "Sales"})
    assert compile_connector(connector()).in_scope({})  # no scope: everyone


# --- compile-time problems --------------------------------------------------------------------


def test_compile_connector_lists_every_template_problem():
    broken = connector(
        scope="status ==",
        users={"fields": {"a": "{{ x | nosuch }}", "b": {"c": "{% if %}"}}, "active": "maybe"},
        groups=[{"from": "{{ }}"}],
    )

    with pytest.raises(MappingConfigError) as caught:
        compile_connector(broken)

    assert [p.path for p in caught.value.problems] == [
        "scope",
        "users.fields.a",
        "users.fields.b.c",
        "users.active",
        "groups[0].from",
    ]
    assert caught.value.problems[1].message == "unknown filter 'nosuch'"


# --- fingerprints and hashes ------------------------------------------------------------------


def test_fingerprint_changes_with_everything_that_decides_a_person_but_not_with_scheduling():
    base = fingerprint(connector())

    assert fingerprint(connector(schedule={"every": "1h"}, paused=True)) == base
    assert fingerprint(connector(guard={"max_deactivations": 50})) == base
    rate = {"per_hour": 100}
    target = {"type": "talentlms", "base_url": "https://acme.talentlms.com", "api_key": "k"}
    assert fingerprint(connector(target={**target, "rate_limit": rate, "timeout": 5})) == base
    assert fingerprint(connector(target={**target, "api_key": "other"})) == base
    assert fingerprint(connector(scope="status == 'active'")) != base  # who is in changes
    assert fingerprint(connector(users={"fields": {"login": "{{ email }}"}})) != base
    assert fingerprint(connector(users={"active": "status != 'leaver'"})) != base
    assert fingerprint(connector(users={"on_leave": {"groups": "remove"}})) != base
    assert fingerprint(connector(groups=[{"from": "{{ department }}"}])) != base
    assert fingerprint(connector(enrollments=[{"courses": [1]}])) != base


def test_fingerprint_follows_the_target_options_that_validate_accounts():
    ilms = {
        "type": "ilms",
        "base_url": "https://acme.ilms.test",
        "org_id": "99999",
        "api_login_id": "id",
        "transaction_key": "key",
    }
    base = fingerprint(connector(target=ilms))
    assert fingerprint(connector(target={**ilms, "allow_amp_hash": True})) != base
    assert fingerprint(connector(target={**ilms, "languages": ["en"]})) != base
    assert fingerprint(connector(target={**ilms, "rate_limit": {"per_minute": 10}})) == base


columns = st.dictionaries(
    st.text(alphabet="abcdefghij_", min_size=1, max_size=8),
    st.one_of(st.none(), st.integers(), st.text(max_size=12), st.booleans()),
    min_size=1,
    max_size=10,
)


@settings(max_examples=60, deadline=None)
@given(record=columns, seed=st.randoms(use_true_random=False))
def test_source_hash_and_fingerprint_ignore_key_order(record, seed):
    shuffled_items = list(record.items())
    seed.shuffle(shuffled_items)
    shuffled = dict(shuffled_items)
    field_names = list(record)
    fields = {name: "{{ " + name + " }}" for name in field_names}
    seed.shuffle(field_names)
    reordered_fields = {name: fields[name] for name in field_names}

    first = compile_connector(connector(users={"fields": fields}))
    second = compile_connector(connector(users={"fields": reordered_fields}))

    assert first.fingerprint == second.fingerprint
    one, other = first.render("K", record), second.render("K", shuffled)
    assert one.source_hash == other.source_hash
    assert one.fields == other.fields
