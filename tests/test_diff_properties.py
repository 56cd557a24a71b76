"""Properties of the pure diff: applying a plan gives the desired state, a second diff is
empty, and the order of source records changes nothing."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.engine.diff import DiffPolicy, apply_ops, diff_user, may_deprovision
from syncd.engine.push.order import batches, order
from syncd.model import DesiredUser, LinkState, LinkStatus, OpKind
from syncd.vendors.base import Capabilities

names = st.sampled_from(["a", "b", "c", "d"])
values = st.one_of(st.text(max_size=5), st.integers(-3, 3), st.none())
fields = st.dictionaries(st.sampled_from(["email", "name", "title", "password"]), values)
stored = st.dictionaries(st.sampled_from(["email", "name", "title"]), values)  # links never
sets = st.frozensets(names, max_size=4)  # hold passwords
policies = st.builds(
    DiffPolicy,
    on_missing=st.sampled_from(["deactivate", "delete", "ignore"]),
    unenroll_removed=st.booleans(),
    write_only_fields=st.sampled_from([frozenset(), frozenset({"password"})]),
)


@st.composite
def desired_users(draw, key="k"):
    return DesiredUser(
        hr_key=key,
        fields=draw(fields),
        active=draw(st.booleans()),
        groups=draw(sets),
        courses=draw(sets),
        source_hash="h",
    )


@st.composite
def links(draw, key="k"):
    status = draw(st.sampled_from(list(LinkStatus)))
    return LinkState(
        hr_key=key,
        remote_id="r1",
        fields=draw(stored),
        active=status is LinkStatus.LINKED,
        groups=draw(sets),
        courses=draw(sets),
        status=status,
    )


def _exists(link):
    return link is not None and link.status in (
        LinkStatus.LINKED,
        LinkStatus.DEACTIVATED,
        LinkStatus.PENDING,
    )


@given(desired_users(), st.one_of(st.none(), links()), policies)
def test_applying_the_plan_gives_the_desired_state(desired, link, policy):
    ops = diff_user(desired, link, policy)
    after = apply_ops(link, [_confirmed(op) for op in ops], policy, desired)
    if not desired.active:
        assert after is None or not after.active or after.status is LinkStatus.PENDING
        return
    assert after is not None and after.active
    stored = {k: v for k, v in desired.fields.items() if k not in policy.write_only_fields}
    assert {k: after.fields.get(k) for k in stored} == stored
    assert not (set(after.fields) & policy.write_only_fields)
    assert after.groups == desired.groups
    if policy.unenroll_removed or not _exists(link):
        assert after.courses == desired.courses
    else:
        assert after.courses >= desired.courses


@given(desired_users(), st.one_of(st.none(), links()), policies)
def test_a_second_diff_after_success_is_empty(desired, link, policy):
    ops = diff_user(desired, link, policy)
    after = apply_ops(link, [_confirmed(op) for op in ops], policy, desired)
    assert diff_user(desired, after, policy) == []


@given(links(), policies)
def test_a_person_gone_from_hr_gets_on_missing_and_then_nothing(link, policy):
    ops = diff_user(None, link, policy)
    kinds = {op.kind for op in ops}
    if not _exists(link) or policy.on_missing == "ignore":
        assert ops == []
    elif policy.on_missing == "delete":
        assert kinds == {OpKind.DELETE}
    else:
        assert kinds <= {OpKind.DEACTIVATE}
    after = apply_ops(link, ops, policy)
    assert diff_user(None, after, policy) == []


@settings(max_examples=50)
@given(st.lists(desired_users(), min_size=1, max_size=12), st.randoms(use_true_random=False))
def test_the_order_of_source_records_changes_nothing(users, rnd: random.Random):
    users = [
        DesiredUser(
            hr_key=f"k{i}", fields=u.fields, active=u.active, groups=u.groups, courses=u.courses
        )
        for i, u in enumerate(users)
    ]
    policy = DiffPolicy()
    plan = order(op for u in users for op in diff_user(u, None, policy))
    shuffled = users[:]
    rnd.shuffle(shuffled)
    again = order(op for u in shuffled for op in diff_user(u, None, policy))
    assert [(o.kind, o.hr_key, o.target) for o in plan] == [
        (o.kind, o.hr_key, o.target) for o in again
    ]


@given(st.lists(desired_users(), max_size=30), st.integers(1, 7))
def test_batches_keep_order_respect_size_and_never_mix_kinds(users, size):
    users = [
        DesiredUser(hr_key=f"k{i}", fields=u.fields, groups=u.groups) for i, u in enumerate(users)
    ]
    ops = order(op for u in users for op in diff_user(u, None, DiffPolicy()))
    caps = Capabilities(groups=True, batch_sizes={OpKind.CREATE: size})
    chunks = list(batches(ops, caps))
    assert [op for chunk in chunks for op in chunk] == ops
    for chunk in chunks:
        assert len({op.kind for op in chunk}) == 1
        assert len(chunk) <= (size if chunk[0].kind is OpKind.CREATE else 1)
    phases = [op.kind.phase for op in ops]
    assert phases == sorted(phases)  # leavers, then accounts, then memberships


def _confirmed(op):
    """The vendor's answer to a create carries the new id."""
    if op.kind is OpKind.CREATE:
        op.remote_id = "new-id"
    return op


@settings(max_examples=300, deadline=None)
@given(links(), policies)
def test_a_leaver_whose_link_a_cycle_does_not_load_would_get_nothing(link, policy):
    """``may_deprovision`` lets a cycle leave out the links of people who left long ago:
    only ever those for whom the diff has nothing to do."""
    considered = link.status in (LinkStatus.LINKED, LinkStatus.DEACTIVATED)
    if considered and not may_deprovision(link.status, policy):
        assert diff_user(None, link, policy) == []
