"""The situations and the policies' operations, as pure functions over plain data."""

from __future__ import annotations

from typing import Any

from syncd.engine.diff import DiffPolicy
from syncd.engine.reconcile.actions import Policies, plan_actions
from syncd.engine.reconcile.situations import Expected, Situation, classify, managed_memberships
from syncd.model import DesiredUser, LinkState, LinkStatus, OpKind
from syncd.vendors.base import ListedAccount


def plain(name: str, value: Any) -> Any:
    return None if value in (None, "") else str(value).strip().casefold()


def desired(key: str, active: bool = True, groups=("Eng",), courses=("101",)) -> DesiredUser:
    return DesiredUser(
        key,
        {"email": f"{key}@acme.test", "name": key, "password": "secret"},
        active=active,
        groups=frozenset(groups),
        courses=frozenset(courses),
    )


def link(key: str, remote_id: str, active: bool = True, groups=("Eng",)) -> LinkState:
    return LinkState(
        key,
        remote_id,
        {"email": f"{key}@acme.test", "name": key},
        active,
        frozenset(groups),
        frozenset({"101"}),
        LinkStatus.LINKED if active else LinkStatus.DEACTIVATED,
    )


def account(remote_id: str, key: str, active: bool = True, groups=("Eng",), **fields: Any):
    return ListedAccount(
        remote_id,
        active,
        {"email": f"{key.upper()}@ACME.test ", "name": key, **fields},
        match=f"{key}@acme.test",
        groups=frozenset(groups) if groups is not None else None,
        courses=frozenset({"101"}),
    )


def expected(people: list[DesiredUser], links: list[LinkState], **extra: Any) -> Expected:
    groups, courses = managed_memberships(people, links)
    return Expected(
        desired={p.hr_key: p for p in people},
        links={k.hr_key: k for k in links},
        match_of={f"{p.hr_key}@acme.test": p.hr_key for p in people},
        groups=groups | frozenset({"Sales"}),
        courses=courses,
        **extra,
    )


def test_values_compare_as_the_vendor_compares_them_and_passwords_never():
    policy = DiffPolicy(write_only_fields=frozenset({"password"}))
    found = classify(
        [account("1", "e1"), account("2", "e2", name="Renamed")],
        [],
        expected([desired("e1"), desired("e2")], [link("e1", "1"), link("e2", "2")]),
        policy,
        plain,
    )

    assert [(f.hr_key, f.situation) for f in found] == [
        ("e1", Situation.IN_SYNC),
        ("e2", Situation.DRIFTED),
    ]
    assert found[1].as_json()["fields"] == {"name": {"lms": "Renamed", "hr": "e2"}}


def test_a_mapped_group_missing_or_extra_is_drift_and_an_unmapped_one_is_not():
    found = classify(
        [
            account("1", "e1", groups=("Fire wardens",)),
            account("2", "e2", groups=("Eng", "Sales")),
        ],
        [],
        expected([desired("e1"), desired("e2")], [link("e1", "1"), link("e2", "2")]),
        DiffPolicy(),
        plain,
    )

    assert found[0].missing_groups == {"Eng"} and not found[0].extra_groups
    assert found[1].extra_groups == {"Sales"} and not found[1].missing_groups
    plan = plan_actions(
        found, expected([desired("e1"), desired("e2")], []), DiffPolicy(), Policies()
    )
    assert {(op.kind, op.hr_key, op.target) for op in plan.ops} == {
        (OpKind.GROUP_ADD, "e1", "Eng"),
        (OpKind.GROUP_REMOVE, "e2", "Sales"),
    }


def test_a_deactivated_leavers_groups_are_not_missing_under_keep_and_absent_under_remove():
    leaver = link("e1", "1", active=False)
    world = expected([], [leaver])
    still_in = account("1", "e1", active=False, groups=("Eng",))
    left = account("1", "e1", active=False, groups=())

    keep = DiffPolicy()
    remove = DiffPolicy(leaver_groups="remove")
    assert classify([still_in], [], world, keep, plain)[0].situation is Situation.IN_SYNC
    assert classify([left], [], world, keep, plain)[0].situation is Situation.IN_SYNC
    drifted = classify([still_in], [], world, remove, plain)[0]
    assert drifted.situation is Situation.DRIFTED and drifted.extra_groups == {"Eng"}
    assert classify([left], [], world, remove, plain)[0].situation is Situation.IN_SYNC
    plan = plan_actions([drifted], world, remove, Policies())
    assert [(op.kind, op.target) for op in plan.ops] == [(OpKind.GROUP_REMOVE, "Eng")]


def test_a_leavers_account_reactivated_by_hand_is_drift_and_deactivated_again():
    world = expected([desired("e1", active=False)], [link("e1", "1", active=False)])
    found = classify([account("1", "e1", active=True)], [], world, DiffPolicy(), plain)

    assert found[0].as_json()["fields"] == {"active": {"lms": True, "hr": False}}
    plan = plan_actions(found, world, DiffPolicy(), Policies())
    assert [op.kind for op in plan.ops] == [OpKind.DEACTIVATE]


def test_unlinked_accounts_match_a_person_nobody_or_someone_left_alone():
    world = expected(
        [desired("e1"), desired("e2")],
        [link("e1", "1")],
        unmanaged=frozenset({"contractor@acme.test"}),
    )
    found = classify(
        [account("1", "e1"), account("7", "e2"), account("8", "ghost"), account("9", "contractor")],
        ["5"],
        world,
        DiffPolicy(),
        plain,
    )

    assert {f.lms_user_id: (f.situation, f.hr_key) for f in found} == {
        "1": (Situation.IN_SYNC, "e1"),
        "7": (Situation.UNLINKED_MATCH, "e2"),
        "8": (Situation.ORPHAN, None),
    }
    twin = classify([account("3", "e1")], [], world, DiffPolicy(), plain)[0]
    assert twin.situation is Situation.UNLINKED_MATCH and twin.linked_elsewhere == "1"
    assert plan_actions([twin], world, DiffPolicy(), Policies()).adopted == {}


def test_policies_decide_what_each_situation_becomes():
    world = expected([desired("e1"), desired("e2")], [link("e1", "1")])
    gone = classify([account("8", "ghost")], ["1"], world, DiffPolicy(), plain)
    assert [f.situation for f in gone] == [Situation.ORPHAN, Situation.MISSING_REMOTE]

    acting = plan_actions(gone, world, DiffPolicy(), Policies(on_orphan="deactivate"))
    assert [(op.kind, op.hr_key) for op in acting.ops] == [
        (OpKind.DEACTIVATE, "lms:8"),
        (OpKind.CREATE, "e1"),
        (OpKind.GROUP_ADD, "e1"),
        (OpKind.ENROLL, "e1"),
    ]
    reporting = plan_actions(
        gone, world, DiffPolicy(), Policies(on_orphan="report", on_missing_remote="report")
    )
    assert reporting.ops == [] and {f.action for f in gone} == {"report"}


def test_a_person_whose_record_is_held_back_is_neither_judged_nor_deprovisioned():
    world = expected([], [link("e1", "1")], left_alone=frozenset({"e1"}))

    assert classify([account("1", "e1", name="Other")], [], world, DiffPolicy(), plain) == []
    assert classify([], ["1"], world, DiffPolicy(), plain) == []
