"""The desired state follows the configuration: changing the scope or the mapping re-plans
everyone it affects, within the guard, even people whose HR record did not change.

Run as a user would: ``syncd sync`` processes against the TalentLMS sandbox, the
configuration edited between them.
"""

from __future__ import annotations

import pytest

from syncd.sandbox import Sandbox
from tests.support.cli import run_syncd as syncd
from tests.support.configs import talentlms_connector, write_config

API_KEY = "sandbox-talentlms-key"
HR = (
    "employee_id,first_name,last_name,email,department\n"
    "S1,Ann,Smith,ann@scope.test,Engineering\n"
    "S2,Bob,Jones,bob@scope.test,Sales\n"
    "S3,Cy,Hall,cy@scope.test,Sales\n"
    "S4,Di,Ward,di@scope.test,Engineering\n"
)


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(vendors=["talentlms"], job_duration=0.05) as running:
        yield running


@pytest.fixture
def portal(sandbox):
    sim = sandbox.sim("talentlms")
    sim.reset()
    return sim


def _push(tmp_path, db_url, sandbox, **changes):
    connector = talentlms_connector("lms", sandbox.base_url("talentlms"), API_KEY, **changes)
    config = write_config(tmp_path, db_url, connector)
    return syncd("sync", "lms", "--direction", "push", "--config", str(config))


def _active(portal) -> dict[str, bool]:
    return {
        u["email"]: u["status"] == "active"
        for u in portal.dump()["users"]
        if u["email"].endswith("@scope.test")
    }


def test_narrowing_the_scope_deactivates_the_people_it_leaves_out(
    tmp_path, db_url, sandbox, portal
):
    (tmp_path / "hr.csv").write_text(HR)
    first = _push(tmp_path, db_url, sandbox, guard={"max_deactivations": "100%"})
    assert first.returncode == 0, first.stderr
    assert all(_active(portal).values()) and len(_active(portal)) == 4

    narrowed = _push(
        tmp_path,
        db_url,
        sandbox,
        scope="department == 'Engineering'",
        guard={"max_deactivations": "100%"},
    )
    assert narrowed.returncode == 0, narrowed.stderr
    assert _active(portal) == {
        "ann@scope.test": True,
        "bob@scope.test": False,
        "cy@scope.test": False,
        "di@scope.test": True,
    }


def test_a_narrowed_scope_stays_within_the_guard(tmp_path, db_url, sandbox, portal):
    (tmp_path / "hr.csv").write_text(HR)
    assert _push(tmp_path, db_url, sandbox).returncode == 0
    narrowed = _push(tmp_path, db_url, sandbox, scope="department == 'Engineering'")
    assert narrowed.returncode == 3, narrowed.stderr  # 2 of 4 is over the default 10%
    assert "guard" in (narrowed.stdout + narrowed.stderr).lower()
    assert all(_active(portal).values())


def test_a_changed_field_template_updates_people_whose_record_did_not_change(
    tmp_path, db_url, sandbox, portal
):
    (tmp_path / "hr.csv").write_text(HR)
    assert _push(tmp_path, db_url, sandbox).returncode == 0
    users = {
        "match": "email",
        "fields": {
            "login": "{{ employee_id }}",
            "name": "{{ first_name | upper }}",
            "surname": "{{ last_name }}",
            "email": "{{ email }}",
        },
    }
    again = _push(tmp_path, db_url, sandbox, users=users)
    assert again.returncode == 0, again.stderr
    names = {u["email"]: u["name"] for u in portal.dump()["users"] if "@scope.test" in u["email"]}
    assert names["ann@scope.test"] == "ANN" and names["di@scope.test"] == "DI"


@pytest.mark.parametrize("first_sync", [True, False], ids=["first-sync", "after-a-sync"])
def test_a_scope_that_leaves_nobody_in_scope_is_a_guard_stop(
    tmp_path, db_url, sandbox, portal, first_sync
):
    (tmp_path / "hr.csv").write_text(HR)
    if not first_sync:
        assert _push(tmp_path, db_url, sandbox).returncode == 0
    typo = _push(
        tmp_path,
        db_url,
        sandbox,
        scope="department == 'Engneering'",
        guard={"max_deactivations": "100%"},
    )
    assert typo.returncode == 3, typo.stdout + typo.stderr
    assert "scope leaves none of the 4 records" in typo.stdout + typo.stderr
    assert all(_active(portal).values())
    assert len(_active(portal)) == (0 if first_sync else 4)
