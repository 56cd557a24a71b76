"""The configuration loader: what a person gets back for a good file and for each mistake."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from syncd.assemble import adapter_class, check, load_config, vendor_facts
from syncd.config import (
    ConfigError,
    Problem,
    Threshold,
    masked,
    parse_duration,
    secrets,
)
from syncd.config.schema.targets import HowNowTarget, TalentLMSTarget
from syncd.vendors.base import Capabilities


def capabilities_for(target: Any) -> Capabilities:
    """What the target's adapter declares it can do, for this configured target."""
    return vendor_facts(target.type).capabilities_for(target)


def user_operations(target: Any) -> frozenset[str]:
    return vendor_facts(target.type).user_operations(target)


EXAMPLE = Path(__file__).resolve().parent.parent / "config" / "example.yaml"
EXAMPLE_ENV = {
    "TALENTLMS_API_KEY": "tlms-key-0123456789",
    "HOWNOW_CLIENT_ID": "hownow-client",
    "HOWNOW_CLIENT_SECRET": "hownow-secret-9876",
}

BASE = """
sources:
  hr: {type: csv, path: hr.csv, key: employee_id}
sinks:
  training: {type: csv, path: training.csv}
"""

TALENTLMS = """
  - name: talentlms
    source: hr
    schedule: {every: 15m}
    target:
      type: talentlms
      base_url: https://acme.talentlms.com
      api_key: key-for-tests
    users:
      fields: {login: "{{ employee_id }}", email: "{{ email }}"}
"""


def write(tmp_path: Path, text: str, name: str = "syncd.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def config_with(tmp_path: Path, *connectors: str) -> Path:
    """BASE plus ``connectors:`` made of each piece (each dedented on its own)."""
    pieces = "".join(textwrap.indent(textwrap.dedent(piece), "  ") for piece in connectors)
    return write(tmp_path, BASE + "connectors:\n" + pieces)


def problems_of(path: Path, environ: dict[str, str] | None = None) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ or {})
    return caught.value.problems


def only_problem(path: Path, environ: dict[str, str] | None = None) -> Problem:
    problems = problems_of(path, environ)
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


# --- the SPEC example -------------------------------------------------------------------------


def test_spec_example_validates_unchanged():
    config = load_config(EXAMPLE, EXAMPLE_ENV)

    assert [c.name for c in config.connectors] == ["talentlms", "hownow"]
    talentlms, hownow = config.connectors
    assert isinstance(talentlms.target, TalentLMSTarget)
    assert talentlms.target.api_key.get_secret_value() == "tlms-key-0123456789"
    assert talentlms.target.api_version == "2025-01-01"
    assert talentlms.schedule.every == timedelta(minutes=15)
    assert talentlms.scope == "status != 'contractor'"
    assert talentlms.users.match == "email"
    assert talentlms.groups[0].from_ == "{{ department }}"
    assert talentlms.groups[0].map == {"Engineering": "Engineering Team"}
    assert talentlms.enrollments[0].courses == [101, 102]
    assert talentlms.guard.max_deactivations == Threshold(percent=5.0)
    assert talentlms.pull is not None and talentlms.pull.sink == "training"
    assert isinstance(hownow.target, HowNowTarget)
    assert hownow.target.deactivate_assign_to == "EXT-svc_admin"
    assert hownow.users.fields["job_role"] == {"name": "{{ job_title }}"}
    assert hownow.guard.max_deactivations == Threshold(percent=10.0)  # the default
    assert config.server.host == "127.0.0.1" and config.server.port == 9465
    assert config.state.url.get_secret_value() == "sqlite:///var/lib/syncd/state.db"


def test_spec_example_without_its_variables_names_each_one():
    problems = problems_of(EXAMPLE, {})

    assert {p.path: p.message for p in problems} == {
        "connectors[talentlms].target.api_key": "environment variable TALENTLMS_API_KEY is not set",
        "connectors[hownow].target.client_id": "environment variable HOWNOW_CLIENT_ID is not set",
        "connectors[hownow].target.client_secret": (
            "environment variable HOWNOW_CLIENT_SECRET is not set"
        ),
    }
    assert all(p.file == str(EXAMPLE) and p.line for p in problems)


def test_check_prints_the_resolved_config_with_every_secret_masked(tmp_path):
    code, output = check(EXAMPLE, EXAMPLE_ENV)

    assert code == 0
    assert output.splitlines()[0] == "configuration OK: 2 connectors"
    for secret in ("tlms-key-0123456789", "hownow-secret-9876"):
        assert secret not in output
    resolved = yaml.safe_load(output.split("\n", 1)[1])
    talentlms = resolved["connectors"][0]
    assert talentlms["target"]["api_key"] == "****"
    assert talentlms["target"]["rate_limit"]["burst_window"] == "5s"
    assert talentlms["guard"]["max_deactivations"] == "5%"
    assert resolved["connectors"][1]["target"]["client_id"] == "hownow-client"  # not a secret


def test_masked_and_secrets_cover_url_passwords(tmp_path):
    path = write(
        tmp_path,
        """
        state: {url: "postgresql+psycopg://syncd:db-pass-4242@db.example/syncd"}
        sources:
          hr: {type: http, url: "https://svc:hr-pass-1111@hr.example/people", key: id,
               auth: {type: bearer, token: hr-token-2222}}
        sinks:
          out: {type: sql, url: "postgresql://w:sink-pass-3333@db.example/hr?sslmode=require"}
        """,
    )
    config = load_config(path, {})
    shown = yaml.safe_dump(masked(config))

    for secret in ("db-pass-4242", "hr-pass-1111", "hr-token-2222", "sink-pass-3333"):
        assert secret not in shown
        assert secret in secrets(config)
    assert masked(config)["state"]["url"] == "postgresql+psycopg://syncd:****@db.example/syncd"
    assert masked(config)["sinks"]["out"]["url"].endswith("@db.example/hr?sslmode=require")
    assert config.state.url.get_secret_value().endswith("db-pass-4242@db.example/syncd")


def test_check_lists_every_problem_and_exits_2(tmp_path):
    path = config_with(tmp_path, TALENTLMS.replace("15m", "15 minutes"))

    code, output = check(path, {})

    assert code == 2
    assert output == (
        f"{path}: connectors[talentlms].schedule.every: '15 minutes' is not a duration: "
        "write a whole number followed by s, m, h or d (e.g. 30s, 15m, 1h, 1d) (line 10)"
    )


@pytest.mark.parametrize("cron", ["0 0 31 2 *", "0 0 30 2 *", "0 0 31 4,6,9,11 *"])
def test_a_cron_that_can_never_fire_is_refused(tmp_path, cron):
    path = config_with(tmp_path, TALENTLMS.replace("{every: 15m}", f'{{cron: "{cron}"}}'))
    problem = only_problem(path)
    assert problem.path == "connectors[talentlms].schedule.cron"
    assert "never fires" in problem.message


def test_a_cron_on_the_29th_of_february_is_accepted(tmp_path):
    path = config_with(tmp_path, TALENTLMS.replace("{every: 15m}", '{cron: "0 0 29 2 *"}'))
    assert load_config(path, {}).connectors[0].schedule.cron == "0 0 29 2 *"


@pytest.mark.parametrize("text", ["", "connectors: []\n", BASE])
def test_a_configuration_without_a_connector_fails_its_check(tmp_path, text):
    path = write(tmp_path, text)
    code, output = check(path, {})
    assert code == 2
    assert "connectors: none is configured" in output


# --- interpolation ----------------------------------------------------------------------------


def test_file_reference_reads_relative_to_the_config_and_strips_the_newline(tmp_path):
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "talentlms").write_text("from-a-file-555\n", encoding="utf-8")
    path = config_with(tmp_path, TALENTLMS.replace("key-for-tests", "${file:secrets/talentlms}"))

    config = load_config(path, {})

    assert config.connectors[0].target.api_key.get_secret_value() == "from-a-file-555"


def test_unreadable_file_reference_names_the_file_and_key(tmp_path):
    path = config_with(tmp_path, TALENTLMS.replace("key-for-tests", "${file:missing/key}"))

    problem = only_problem(path)

    assert problem.path == "connectors[talentlms].target.api_key"
    assert "missing/key" in problem.message and "cannot read" in problem.message


def test_variables_interpolate_inside_text_and_double_dollar_is_literal(tmp_path):
    path = config_with(
        tmp_path,
        TALENTLMS.replace("https://acme.talentlms.com", "https://${TENANT}.talentlms.com").replace(
            'email: "{{ email }}"', 'email: "$${ {{ email }}"'
        ),
    )

    config = load_config(path, {"TENANT": "initech"})

    assert config.connectors[0].target.base_url == "https://initech.talentlms.com"
    assert config.connectors[0].users.fields["email"] == "${ {{ email }}"


def test_missing_variable_names_the_variable_and_the_key(tmp_path):
    path = config_with(tmp_path, TALENTLMS.replace("key-for-tests", "${TLMS_KEY}"))

    problem = only_problem(path, {"OTHER": "x"})

    assert str(problem) == (
        f"{path}: connectors[talentlms].target.api_key: "
        "environment variable TLMS_KEY is not set (line 14)"
    )


def test_interpolated_values_are_not_echoed_in_problems(tmp_path):
    connector = TALENTLMS.replace(
        "api_key: key-for-tests",
        "api_key: k\n      rate_limit: {burst: 5, burst_window: '${WINDOW}'}",
    )
    path = config_with(tmp_path, connector)

    problem = only_problem(path, {"WINDOW": "hush-hush-value"})

    assert problem.path == "connectors[talentlms].target.rate_limit.burst_window"
    assert "hush-hush-value" not in problem.message
    assert "is not a duration" in problem.message


# --- one problem per kind of mistake ----------------------------------------------------------


@pytest.mark.parametrize("written", ["15", "15 minutes", "1w", "-5m", "PT15M"])
def test_bad_duration_says_which_forms_are_accepted(tmp_path, written):
    path = config_with(tmp_path, TALENTLMS.replace("every: 15m", f"every: '{written}'"))

    problem = only_problem(path)

    assert problem.path == "connectors[talentlms].schedule.every"
    assert "30s, 15m, 1h, 1d" in problem.message


def test_durations_parse_to_timedeltas():
    assert parse_duration("30s") == timedelta(seconds=30)
    assert parse_duration("15m") == timedelta(minutes=15)
    assert parse_duration("1h") == timedelta(hours=1)
    assert parse_duration("1d") == timedelta(days=1)


def test_unknown_key_nested_in_a_target_is_an_error_with_a_hint(tmp_path):
    path = config_with(tmp_path, TALENTLMS.replace("api_key: key-for-tests", "api_kee: x"))

    problems = {p.path: p.message for p in problems_of(path)}

    assert problems["connectors[talentlms].target.api_kee"] == (
        "unknown key 'api_kee' (did you mean 'api_key'?)"
    )
    assert problems["connectors[talentlms].target.api_key"] == "required key is missing"


def test_unknown_top_level_key_lists_the_allowed_ones(tmp_path):
    path = write(tmp_path, BASE + "conectors: []\nverbosity: 3\n")

    problems = {p.path: p.message for p in problems_of(path)}

    assert problems["conectors"] == "unknown key 'conectors' (did you mean 'connectors'?)"
    assert problems["verbosity"].startswith("unknown key 'verbosity' (allowed here: connectors,")


def test_plain_http_vendor_url_is_refused(tmp_path):
    path = config_with(tmp_path, TALENTLMS.replace("https://acme", "http://acme"))

    problem = only_problem(path)

    assert problem.path == "connectors[talentlms].target.base_url"
    assert problem.message == (
        "only https:// URLs are accepted; http:// is allowed only for loopback hosts "
        "(127.0.0.0/8, ::1, localhost)"
    )


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080", "http://127.9.9.9", "http://localhost:9000/", "http://[::1]:81"],
)
def test_plain_http_to_loopback_is_accepted(tmp_path, url):
    path = config_with(tmp_path, TALENTLMS.replace("https://acme.talentlms.com", url))

    config = load_config(path, {})

    assert config.connectors[0].target.base_url == url.rstrip("/")


def test_vendor_url_with_credentials_is_refused(tmp_path):
    path = config_with(
        tmp_path, TALENTLMS.replace("https://acme", "https://admin:pw-in-url-777@acme")
    )

    problem = only_problem(path)

    assert "must not carry credentials" in problem.message
    assert "pw-in-url-777" not in problem.message


def test_unknown_source_reference(tmp_path):
    path = config_with(tmp_path, TALENTLMS.replace("source: hr", "source: people"))

    problem = only_problem(path)

    assert (problem.path, problem.message) == (
        "connectors[talentlms].source",
        "unknown source 'people'; defined sources: hr",
    )


def test_unknown_sink_reference(tmp_path):
    path = config_with(tmp_path, TALENTLMS + "    pull: {sink: results}\n")

    problem = only_problem(path)

    assert (problem.path, problem.message) == (
        "connectors[talentlms].pull.sink",
        "unknown sink 'results'; defined sinks: training",
    )


def test_duplicate_connector_names(tmp_path):
    path = config_with(tmp_path, TALENTLMS + TALENTLMS)

    problem = only_problem(path)

    assert problem.path == "connectors[1].name"
    assert problem.message == "duplicate connector name 'talentlms' (connectors[0] has it too)"


def test_connector_name_must_be_a_simple_word(tmp_path):
    path = config_with(tmp_path, TALENTLMS.replace("name: talentlms", "name: talent lms"))

    problem = only_problem(path)

    assert problem.path == "connectors[0].name"
    assert "should match pattern" in problem.message


def test_every_problem_is_reported_at_once(tmp_path):
    connector = (
        TALENTLMS.replace("every: 15m", "every: soon")
        .replace("source: hr", "source: nobody")
        .replace("https://acme", "http://acme")
    )
    path = config_with(tmp_path, connector)

    problems = problems_of(path)

    assert [p.path for p in problems] == [
        "connectors[talentlms].source",
        "connectors[talentlms].schedule.every",
        "connectors[talentlms].target.base_url",
    ]
    assert str(ConfigError(problems)).count("\n") == 2


def test_yaml_syntax_error_is_one_problem_with_line_and_column(tmp_path):
    path = write(tmp_path, "state:\n  url: [unclosed\nlog: {}\n")

    problem = only_problem(path)

    assert problem.path == ""
    assert problem.message.startswith("YAML syntax error at line 3, column 4")
    assert str(problem).startswith(f"{path}: YAML syntax error")


def test_key_written_twice_is_an_error(tmp_path):
    path = write(tmp_path, "log:\n  level: info\n  level: debug\n")

    problem = only_problem(path)

    assert (problem.path, problem.line) == ("log.level", 3)
    assert "written twice (also line 2)" in problem.message


def test_missing_file_is_a_problem(tmp_path):
    problem = only_problem(tmp_path / "absent.yaml")

    assert "cannot read the configuration" in problem.message


def test_unknown_target_type_lists_the_vendors(tmp_path):
    path = config_with(tmp_path, TALENTLMS.replace("type: talentlms", "type: moodle"))

    problem = only_problem(path)

    assert problem.path == "connectors[talentlms].target.type"
    assert "'talentlms', 'hownow', 'ilms', 'learningpool'" in problem.message


def test_cron_schedule_is_checked(tmp_path):
    good = config_with(tmp_path, TALENTLMS.replace("{every: 15m}", "{cron: '*/15 * * * *'}"))
    assert load_config(good, {}).connectors[0].schedule.cron == "*/15 * * * *"

    bad = config_with(tmp_path, TALENTLMS.replace("{every: 15m}", "{cron: '*/15 * * *'}"))
    problem = only_problem(bad)
    assert problem.path == "connectors[talentlms].schedule.cron"
    assert "5-field crontab" in problem.message

    both = config_with(
        tmp_path, TALENTLMS.replace("{every: 15m}", "{every: 1h, cron: '0 * * * *'}")
    )
    assert "exactly one of every" in only_problem(both).message


# --- vendor capabilities ----------------------------------------------------------------------

HOWNOW = """
  - name: hownow
    source: hr
    schedule: {every: 30m}
    target:
      type: hownow
      base_url: https://api.hownow.app
      client_id: id
      client_secret: secret
      deactivate_assign_to: EXT-svc_admin
    users:
      fields: {external_user_id: "{{ employee_id }}"}
"""


def test_groups_on_hownow_name_the_vendor_and_the_capability(tmp_path):
    path = config_with(tmp_path, HOWNOW + "    groups: [{from: '{{ department }}'}]\n")

    problem = only_problem(path)

    assert problem.path == "connectors[hownow].groups"
    assert problem.message == (
        "hownow cannot write group memberships (its API documents no such operation); "
        "remove connectors[hownow].groups"
    )


def test_enrollments_on_hownow_and_delete_on_ilms_are_refused(tmp_path):
    ilms = """
      - name: ilms
        source: hr
        schedule: {every: 1h}
        target: {type: ilms, base_url: "https://api.inspiredlms.com", org_id: 99999,
                 api_login_id: login, transaction_key: key}
        users: {fields: {F001: "{{ employee_id }}"}, on_missing: delete}
    """
    path = config_with(tmp_path, HOWNOW + "    enrollments: [{courses: [1]}]\n", ilms)

    problems = {p.path: p.message for p in problems_of(path)}

    assert problems["connectors[hownow].enrollments"].startswith(
        "hownow cannot write course enrollments"
    )
    assert problems["connectors[ilms].users.on_missing"] == (
        "ilms cannot delete users (its API only deactivates users); "
        "use on_missing: deactivate or ignore"
    )


def test_branches_exist_only_on_talentlms(tmp_path):
    ok = config_with(tmp_path, TALENTLMS + "    groups: [{from: '{{ site }}', kind: branch}]\n")
    assert load_config(ok, {}).connectors[0].groups[0].kind == "branch"

    ilms = """
      - name: ilms
        source: hr
        schedule: {every: 1h}
        target: {type: ilms, base_url: "https://api.inspiredlms.com", org_id: "1",
                 api_login_id: login, transaction_key: key}
        users: {fields: {F001: "{{ employee_id }}"}}
        groups: [{from: "{{ site }}", kind: branch}]
    """
    problem = only_problem(config_with(tmp_path, ilms))
    assert problem.path == "connectors[ilms].groups[0].kind"
    assert problem.message.startswith("ilms cannot write branches (only TalentLMS has branches)")


def test_learningpool_capabilities_follow_its_configured_endpoints(tmp_path):
    connector = """
      - name: lp
        source: hr
        schedule: {every: 1h}
        target:
          type: learningpool
          base_url: https://learning.acme.example
          client_id: id
          client_secret: secret
          token_path: /oauth2/token
          token_encoding: json
          deactivation: {method: flag, field: active, inactive: false, active: true}
          records:
            envelope: data
            user: {id: id, unique: [email], writable: [email]}
            group: {id: id, name: name}
          endpoints:
            user_create: {method: POST, path: /users}
            user_update: {method: patch, path: "/users/{user_id}"}
            user_deactivate: {method: PATCH, path: "/users/{user_id}"}
            user_reactivate: {method: PATCH, path: "/users/{user_id}"}
            groups_list: {method: GET, path: /groups}
        users: {fields: {email: "{{ email }}"}}
        groups: [{from: "{{ department }}"}]
    """
    problem = only_problem(config_with(tmp_path, connector))
    assert problem.path == "connectors[lp].groups"
    assert problem.message == (
        "learningpool cannot write group memberships (target.endpoints lacks "
        "group_member_add, group_member_remove and target lacks paging); "
        "configure them or remove connectors[lp].groups"
    )

    complete = connector.replace(
        "groups_list: {method: GET, path: /groups}",
        "groups_list: {method: GET, path: /groups}\n"
        '            group_member_add: {method: POST, path: "/groups/{group_id}/members"}\n'
        "            group_member_remove:\n"
        '              {method: DELETE, path: "/groups/{group_id}/members/{user_id}"}\n'
        "          paging: {style: offset, page_param: skip, size_param: take, page_size: 50}",
    )
    config = load_config(config_with(tmp_path, complete), {})
    target = config.connectors[0].target
    assert target.endpoints.user_update.method == "PATCH"
    capabilities = capabilities_for(target)
    assert capabilities.groups and not capabilities.enrollments and not capabilities.pull
    assert "users_list" not in user_operations(target)


def test_learningpool_without_user_endpoints_cannot_push(tmp_path):
    connector = """
      - name: lp
        source: hr
        schedule: {every: 1h}
        target: {type: learningpool, base_url: "https://lp.example", client_id: id,
                 client_secret: secret, endpoints: {user_create: {method: POST, path: /users}}}
        users: {fields: {email: "{{ email }}"}, match: email}
    """
    problems = problems_of(config_with(tmp_path, connector))

    assert {p.path for p in problems} == {
        "connectors[lp].target.endpoints",
        "connectors[lp].target.token_path",
        "connectors[lp].target.token_encoding",
        "connectors[lp].target.records.envelope",  # answers' bodies are undocumented too
        "connectors[lp].target.records.user",
    }
    messages = " | ".join(p.message for p in problems)
    assert "the key answers wrap records in (e.g. data), or none" in messages
    assert "the user record's field names (id, unique, writable, ...)" in messages
    for missing in ("user_update", "user_deactivate", "user_reactivate", "users_list"):
        assert f"lacks {missing}" in messages
    assert "lacks user_deactivate and target lacks deactivation" in messages
    assert "lacks users_list and target lacks paging" in messages


def test_learningpool_records_are_configuration_and_each_missing_part_is_named(tmp_path):
    # Learning Pool documents no response body: the envelope and every field name syncd
    # reads are the customer's, and each endpoint configured needs its record's names.
    connector = """
      - name: lp
        source: hr
        schedule: {every: 1h}
        target:
          type: learningpool
          base_url: https://lp.example
          client_id: id
          client_secret: secret
          token_path: /oauth2/token
          token_encoding: json
          paging: {style: page, page_param: p, size_param: n, page_size: 50}
          endpoints:
            users_list: {method: GET, path: /users}
            groups_list: {method: GET, path: /groups}
            group_members_list: {method: GET, path: "/groups/{group_id}/members"}
            user_enrolments_list: {method: GET, path: "/users/{user_id}/enrolments"}
            completions_list: {method: GET, path: /completions}
        users: {fields: {email: "{{ email }}"}}
    """
    problems = {p.path: p.message for p in problems_of(config_with(tmp_path, connector))}

    target = "connectors[lp].target.records"
    assert {path for path in problems if path.startswith(target)} == {
        f"{target}.{part}"
        for part in ("envelope", "user", "group", "member_user_id", "enrolment_course", "result")
    }
    assert "Learning Pool documents no response body" in problems[f"{target}.result"]
    assert "user_id, course_id, updated_at" in problems[f"{target}.result"]

    partial = connector.replace(
        "          endpoints:", "          records: {user: {id: uid}}\n          endpoints:"
    )
    named = {p.path for p in problems_of(config_with(tmp_path, partial))}
    assert {f"{target}.user.unique", f"{target}.user.writable"} <= named

    records = (
        "records: {envelope: none, user: {id: uid, unique: [login], writable: [email]}, "
        "group: {id: gid, name: title}, member_user_id: uid, enrolment_course: [lx], "
        "result: {user_id: learner, course_id: [lx], updated_at: changed}}"
    )
    complete = connector.replace(
        "          endpoints:", f"          {records}\n          endpoints:"
    )
    left = {p.path for p in problems_of(config_with(tmp_path, complete))}
    assert not {path for path in left if path.startswith(target)}  # only the user endpoints


def test_learningpool_endpoint_paths_are_checked(tmp_path):
    connector = """
      - name: lp
        source: hr
        schedule: {every: 1h}
        target: {type: learningpool, base_url: "https://lp.example", client_id: id,
                 client_secret: secret,
                 endpoints: {user_create: {method: POST, path: "<CONFIRM>"},
                             user_update: {method: PATCH, path: "/users/{id}"},
                             user_get: {method: FETCH, path: "/users/{user_id}"}}}
        users: {fields: {email: "{{ email }}"}}
    """
    problems = {p.path: p.message for p in problems_of(config_with(tmp_path, connector))}

    base = "connectors[lp].target.endpoints"
    assert problems[f"{base}.user_create.path"] == "still holds the <CONFIRM> placeholder"
    assert problems[f"{base}.user_update.path"].startswith("unknown placeholder {id}")
    assert "'GET', 'POST', 'PUT', 'PATCH' or 'DELETE'" in problems[f"{base}.user_get.method"]


def test_hownow_deactivation_owner_is_required(tmp_path):
    path = config_with(tmp_path, HOWNOW.replace("      deactivate_assign_to: EXT-svc_admin\n", ""))

    problem = only_problem(path)

    assert (problem.path, problem.message) == (
        "connectors[hownow].target.deactivate_assign_to",
        "required key is missing",
    )


def test_match_must_be_a_mapped_field(tmp_path):
    path = config_with(tmp_path, TALENTLMS.replace("users:\n", "users:\n      match: mail\n"))

    problem = only_problem(path)

    assert (problem.path, problem.message) == (
        "connectors[talentlms].users.match",
        "'mail' is not one of users.fields (login, email)",
    )


# --- templates are compiled while loading -----------------------------------------------------


def test_template_syntax_error_and_unknown_filter_name_their_key(tmp_path):
    connector = (
        TALENTLMS.replace('"{{ employee_id }}"', '"{{ employee_id }"').replace(
            '"{{ email }}"', '"{{ email | lowr }}"'
        )
        + '    enrollments: [{when: "{{ department == }}", courses: [7]}]\n'
    )
    path = config_with(tmp_path, connector + "    scope: \"status !== 'x'\"\n")

    problems = {p.path: p.message for p in problems_of(path)}

    assert problems == {
        "connectors[talentlms].users.fields.login": "template syntax error: unexpected '}'",
        "connectors[talentlms].users.fields.email": "unknown filter 'lowr' (did you mean 'lower'?)",
        "connectors[talentlms].enrollments[0].when": (
            "template syntax error: unexpected 'end of print statement'"
        ),
        "connectors[talentlms].scope": "template syntax error: unexpected '='",
    }


def test_active_written_without_braces_is_caught(tmp_path):
    path = config_with(
        tmp_path, TALENTLMS.replace("users:\n", "users:\n      active: \"status == 'active'\"\n")
    )

    problem = only_problem(path)

    assert problem.path == "connectors[talentlms].users.active"
    assert "write an expression in braces" in problem.message


def test_template_problems_are_reported_with_other_problems_of_the_same_connector(tmp_path):
    connector = TALENTLMS.replace("https://acme", "http://acme").replace(
        '"{{ email }}"', '"{{ email | nope }}"'
    )
    problems = {p.path for p in problems_of(config_with(tmp_path, connector))}

    assert problems == {
        "connectors[talentlms].target.base_url",
        "connectors[talentlms].users.fields.email",
    }


# --- values -----------------------------------------------------------------------------------


def test_guard_threshold_forms(tmp_path):
    assert Threshold.model_validate("5%").exceeded(6, 100)
    assert not Threshold.model_validate("5%").exceeded(5, 100)
    assert Threshold.model_validate(25).exceeded(26, 10_000)
    assert not Threshold.model_validate("25").exceeded(25, 30)
    assert Threshold.model_validate("0%").exceeded(1, 1000)

    path = config_with(tmp_path, TALENTLMS + "    guard: {max_deactivations: lots}\n")
    problem = only_problem(path)
    assert problem.path == "connectors[talentlms].guard.max_deactivations"
    assert "e.g. 5%" in problem.message and "e.g. 25" in problem.message


def test_rate_limit_defaults_follow_the_vendor_documents(tmp_path):
    config = load_config(config_with(tmp_path, TALENTLMS, HOWNOW), {})
    talentlms, hownow = (c.target.rate_limit for c in config.connectors)

    # The margin defaults to 1: the documented limits to the full (the limiter's priority
    # reserves and its throttle after unexpected 429s do the rest).
    assert talentlms.windows() == [(2000, 3600.0), (200, 5.0)]
    assert hownow.windows() == [(3000, 3600.0), (50, 60.0)]


def test_rate_limit_keys_left_out_keep_the_vendor_default(tmp_path):
    connector = TALENTLMS.replace(
        "api_key: key-for-tests", "api_key: k\n      rate_limit: {per_hour: 10000, margin: 0.5}"
    )
    limit = load_config(config_with(tmp_path, connector), {}).connectors[0].target.rate_limit

    assert limit.windows() == [(5000, 3600.0), (100, 5.0)]  # the 200/5s burst ceiling stays


def test_rate_limit_floors_at_one_call_and_needs_a_burst_window(tmp_path):
    connector = TALENTLMS.replace(
        "api_key: key-for-tests",
        "api_key: k\n      rate_limit: {per_hour: 1, burst: null, burst_window: null, margin: 0.1}",
    )
    limit = load_config(config_with(tmp_path, connector), {}).connectors[0].target.rate_limit
    assert limit.windows() == [(1, 3600.0)]

    bad = TALENTLMS.replace(
        "api_key: key-for-tests", "api_key: k\n      rate_limit: {burst: 10, burst_window: null}"
    )
    problem = only_problem(config_with(tmp_path, bad))
    assert problem.path == "connectors[talentlms].target.rate_limit"
    assert problem.message.startswith("burst needs burst_window")


def test_log_and_state_sections(tmp_path):
    path = write(tmp_path, "log: {level: DEBUG}\nstate: {url: 'mysql://u@h/db'}\n")

    problems = {p.path: p.message for p in problems_of(path)}

    assert problems == {"state.url": "the state store must be SQLite or PostgreSQL, not mysql"}
    defaults = load_config(write(tmp_path, "log: {level: DEBUG}\n"), {})
    assert defaults.log.level == "debug" and defaults.log.format is None
    assert defaults.state.url.get_secret_value() == "sqlite:///syncd-state.db"
    assert defaults.state.auto_migrate is True


def test_the_configuration_imports_no_vendor_module():
    probe = (
        "import sys; from syncd.config import load_config; "
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('syncd.vendors'))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()

    assert loaded == []
    with pytest.raises(ValueError, match="unknown vendor 'moodle'"):
        adapter_class("moodle")


def test_more_vendors_example_validates(tmp_path):
    example = EXAMPLE.parent / "more-vendors.example.yaml"
    copy = tmp_path / example.name
    copy.write_text(example.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "ilms_login_id").write_text("login-id-value\n", encoding="utf-8")
    (tmp_path / "secrets" / "ilms_transaction_key").write_text("tx-key-value\n", encoding="utf-8")
    environ = {
        "SYNCD_DB_PASSWORD": "db-password-value",
        "LEARNINGPOOL_CLIENT_ID": "lp-client",
        "LEARNINGPOOL_CLIENT_SECRET": "lp-secret-value",
    }

    code, output = check(copy, environ)

    assert code == 0, output
    for secret in ("login-id-value", "tx-key-value", "db-password-value", "lp-secret-value"):
        assert secret not in output
    config = load_config(copy, environ)
    ilms, learningpool = config.connectors
    assert ilms.schedule.cron == "5 * * * *"
    assert ilms.target.rate_limit.windows() == [(60, 60.0)]
    assert ilms.guard.max_deactivations == Threshold(absolute=25)
    assert str(ilms.pull.start_date) == "2024-01-01"
    assert learningpool.paused and capabilities_for(learningpool.target).pull


def test_schedules_become_scheduler_triggers():
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    from syncd.config import Schedule

    every = Schedule.model_validate({"every": "15m"}).trigger()
    cron = Schedule.model_validate({"cron": "5 * * * *"}).trigger()

    assert isinstance(every, IntervalTrigger) and every.interval == timedelta(minutes=15)
    assert isinstance(cron, CronTrigger)


def test_a_cron_schedule_is_read_in_its_timezone_across_daylight_saving():
    from datetime import UTC, datetime

    from syncd.config import Schedule

    nightly = Schedule.model_validate({"cron": "0 2 * * *", "timezone": "Europe/Berlin"})
    trigger = nightly.trigger()

    summer = trigger.get_next_fire_time(None, datetime(2026, 7, 1, 0, 30, tzinfo=UTC))
    winter = trigger.get_next_fire_time(None, datetime(2026, 1, 15, 0, 30, tzinfo=UTC))
    assert summer.astimezone(UTC) == datetime(2026, 7, 2, 0, 0, tzinfo=UTC)  # 02:00 CEST
    assert winter.astimezone(UTC) == datetime(2026, 1, 15, 1, 0, tzinfo=UTC)  # 02:00 CET
    utc = Schedule.model_validate({"cron": "0 2 * * *"}).trigger()
    assert utc.get_next_fire_time(None, datetime(2026, 7, 1, 0, 30, tzinfo=UTC)) == datetime(
        2026, 7, 1, 2, 0, tzinfo=UTC
    )


def test_an_unknown_timezone_is_a_problem_naming_the_key(tmp_path):
    path = config_with(
        tmp_path,
        TALENTLMS.replace("{every: 15m}", '{cron: "0 2 * * *", timezone: Europe/Atlantis}'),
    )
    problem = only_problem(path)
    assert problem.path == "connectors[talentlms].schedule.timezone"
    assert "Europe/Atlantis" in problem.message and "IANA" in problem.message


def test_a_timezone_beside_every_is_refused_as_meaningless(tmp_path):
    path = config_with(tmp_path, TALENTLMS.replace("{every: 15m}", "{every: 15m, timezone: UTC}"))
    assert "timezone applies to cron only" in only_problem(path).message


# --- hostile files ----------------------------------------------------------------------------

ALIAS_BOMB = """
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


def test_an_alias_bomb_is_refused_at_once_with_exit_2(tmp_path):
    path = write(tmp_path, ALIAS_BOMB)
    done = subprocess.run(
        [sys.executable, "-m", "syncd", "config", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "alias bomb" in done.stderr and "Traceback" not in done.stderr


def test_anchors_and_aliases_of_ordinary_size_are_welcome(tmp_path):
    path = config_with(tmp_path, TALENTLMS)
    text = path.read_text().replace("sources:", "x-defaults: &fields {login: x}\nsources:", 1)
    path.write_text(text)
    assert "x-defaults" in only_problem(path).message  # an unknown key, not a refused alias


def test_a_file_far_larger_than_a_configuration_is_refused(tmp_path):
    path = write(tmp_path, BASE + "# " + "x" * 1_100_000 + "\n")
    problem = only_problem(path)
    assert "larger than 1,000,000 bytes" in problem.message


def test_a_file_nested_beyond_reason_is_a_problem_not_a_traceback(tmp_path):
    path = write(tmp_path, "a: " + "[" * 5000 + "]" * 5000 + "\n")
    assert "nested too deeply" in only_problem(path).message
