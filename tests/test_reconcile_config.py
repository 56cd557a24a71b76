"""The ``reconcile:`` section and ``users.on_leave``: defaults, and mistakes named by their key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from syncd.assemble import check, load_config
from syncd.config import ConfigError

BASE = """
sources:
  hr: {type: csv, path: hr.csv, key: employee_id}
connectors:
  - name: lms
    source: hr
    schedule: {every: 15m}
    target: {type: talentlms, base_url: "https://acme.talentlms.com", api_key: key-for-tests}
    users:
      fields: {login: "{{ employee_id }}", email: "{{ email }}"}
"""


def write(tmp_path: Path, extra: str = "", users_extra: str = "") -> Path:
    text = textwrap.dedent(BASE)
    if users_extra:
        text += textwrap.indent(textwrap.dedent(users_extra), "      ")
    text += textwrap.indent(textwrap.dedent(extra), "    ")
    path = tmp_path / "syncd.yaml"
    path.write_text(text)
    return path


def problems(path: Path) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    return {problem.path: problem.message for problem in caught.value.problems}


def test_without_the_sections_the_defaults_hold(tmp_path):
    connector = load_config(write(tmp_path), {}).connector("lms")

    assert connector.reconcile is None  # `syncd reconcile` still runs, with default policies
    assert connector.users.on_leave.groups == "keep"


def test_the_sections_load_with_their_policies_and_schedule(tmp_path):
    path = write(
        tmp_path,
        "reconcile: {schedule: {every: 1d}, on_drift: report, on_orphan: deactivate,"
        " on_missing_remote: report, on_unlinked_match: report}\n",
        "on_leave: {groups: remove}\n",
    )
    connector = load_config(path, {}).connector("lms")

    section = connector.reconcile
    assert section is not None and section.schedule is not None
    assert (section.on_drift, section.on_orphan) == ("report", "deactivate")
    assert (section.on_missing_remote, section.on_unlinked_match) == ("report", "report")
    assert connector.users.on_leave.groups == "remove"
    defaults = load_config(write(tmp_path, "reconcile: {}\n"), {}).connector("lms").reconcile
    assert defaults is not None and defaults.schedule is None
    assert (defaults.on_drift, defaults.on_orphan) == ("correct", "report")
    assert (defaults.on_missing_remote, defaults.on_unlinked_match) == ("recreate", "link")


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("reconcile: {on_drift: fix}\n", "reconcile.on_drift"),
        ("reconcile: {on_orphan: delete}\n", "reconcile.on_orphan"),
        ("reconcile: {on_missing_remote: ignore}\n", "reconcile.on_missing_remote"),
        ("reconcile: {on_unlinked_match: adopt}\n", "reconcile.on_unlinked_match"),
        ("reconcile: {on_orphans: report}\n", "reconcile.on_orphans"),
    ],
)
def test_a_bad_policy_is_an_error_naming_its_key(tmp_path, section, key):
    found = problems(write(tmp_path, section))

    assert list(found) == [f"connectors[lms].{key}"]


def test_a_bad_on_leave_is_an_error_naming_its_key(tmp_path):
    found = problems(write(tmp_path, users_extra="on_leave: {groups: delete}\n"))

    assert list(found) == ["connectors[lms].users.on_leave.groups"]
    assert "keep" in found["connectors[lms].users.on_leave.groups"]


def test_config_check_exits_2_naming_the_policy(tmp_path):
    code, text = check(write(tmp_path, "reconcile: {on_orphan: purge}\n"), {})

    assert code == 2
    assert "connectors[lms].reconcile.on_orphan" in text and "deactivate" in text


def test_a_vendor_that_cannot_list_its_users_cannot_be_reconciled(tmp_path):
    path = tmp_path / "syncd.yaml"
    path.write_text(
        textwrap.dedent(
            """
            sources:
              hr: {type: csv, path: hr.csv, key: employee_id}
            connectors:
              - name: lp
                source: hr
                schedule: {every: 15m}
                target:
                  type: learningpool
                  base_url: "https://acme.learningpool.com"
                  client_id: id
                  client_secret: secret
                  token_path: /token
                  token_encoding: form
                  deactivation: {method: action, field: status, inactive: expired}
                  records:
                    envelope: none
                    user: {id: id, unique: [username], writable: [username, email]}
                  endpoints:
                    user_create: {method: POST, path: /users}
                    user_update: {method: PATCH, path: "/users/{user_id}"}
                    user_deactivate: {method: PATCH, path: "/users/{user_id}"}
                    user_reactivate: {method: PATCH, path: "/users/{user_id}"}
                users:
                  fields: {username: "{{ employee_id }}", email: "{{ email }}"}
                reconcile: {}
            """
        )
    )

    found = problems(path)

    assert found == {
        "connectors[lp].reconcile": "learningpool cannot list its users (target.endpoints "
        "lacks users_list and target lacks paging); configure them or remove "
        "connectors[lp].reconcile"
    }


def test_the_example_configuration_shows_both_sections():
    example = Path(__file__).resolve().parent.parent / "config" / "example.yaml"
    environ = {
        "TALENTLMS_API_KEY": "tlms-key",
        "HOWNOW_CLIENT_ID": "hownow-client",
        "HOWNOW_CLIENT_SECRET": "hownow-secret",
    }
    talentlms = load_config(example, environ).connector("talentlms")

    assert talentlms.reconcile is not None and talentlms.reconcile.on_orphan == "report"
    assert talentlms.users.on_leave.groups == "keep"
