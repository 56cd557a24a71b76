"""Reconciliation, step 3: what each situation's policy does, as push operations. Pure.

The operations are the push's own kinds, so they go through the same outbox, guard,
sender and rate limits: a correction is an update, a (re)activation, a group or an
enrollment change; a recreation is the create a push would send; a link is the push's
adoption of a matched account, followed by what the diff then finds for that person.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from syncd.engine.diff import DiffPolicy, diff_user
from syncd.engine.push.order import order
from syncd.engine.push.plan import Plan
from syncd.engine.reconcile.situations import Expected, Finding, Situation
from syncd.model import DesiredUser, LinkState, LinkStatus, Operation, OpKind

ORPHAN_KEY = "lms:"
"""An orphan has no HR key: its operations and errors are named ``lms:<LMS user id>``."""


@dataclass(frozen=True, slots=True)
class Policies:
    """``reconcile:`` of a connector: what to do about each situation."""

    on_drift: str = "correct"  # correct | report
    on_orphan: str = "report"  # report | deactivate
    on_missing_remote: str = "recreate"  # recreate | report
    on_unlinked_match: str = "link"  # link | report


REPORT = "report"
NONE = "none"


def plan_actions(
    findings: Iterable[Finding], expected: Expected, policy: DiffPolicy, policies: Policies
) -> Plan:
    """The operations (and links) the policies ask for; each finding's ``action`` says which."""
    plan = Plan()
    ops: list[Operation] = []
    for finding in findings:
        ops += _act(finding, expected, policy, policies, plan)
    plan.ops = order(ops)
    return plan


def _act(
    finding: Finding, expected: Expected, policy: DiffPolicy, policies: Policies, plan: Plan
) -> list[Operation]:
    situation = finding.situation
    desired = expected.desired.get(finding.hr_key or "")
    if situation is Situation.IN_SYNC:
        return []
    if situation is Situation.DRIFTED:
        ops = _corrections(finding, desired)
        return _decide(finding, policies.on_drift == "correct", "correct", ops)
    if situation is Situation.MISSING_REMOTE:
        wanted = policies.on_missing_remote == "recreate"
        if wanted and desired is not None and desired.active:
            plan.desired[desired.hr_key] = desired
            return _decide(finding, True, "recreate", diff_user(desired, None, policy))
        finding.action = REPORT
        return []
    if situation is Situation.UNLINKED_MATCH:
        return _link(finding, desired, policy, policies, plan)
    return _orphan(finding, policies)


def _decide(finding: Finding, act: bool, verb: str, ops: list[Operation]) -> list[Operation]:
    finding.action = verb if act else REPORT
    return ops if act else []


def _corrections(finding: Finding, desired: DesiredUser | None) -> list[Operation]:
    """The operations that make a drifted account what HR wants again.

    Like a push's, they carry the person's full desired fields (some vendors replace
    whole records) and name the ones that differ.
    """
    account = finding.account
    assert account is not None and finding.hr_key is not None
    key, remote_id = finding.hr_key, account.remote_id
    fields = dict(desired.fields) if desired is not None else {}
    changed = tuple(sorted(name for name in finding.fields if name != "active"))
    ops: list[Operation] = []
    active = finding.fields.get("active")
    if active is not None:
        kind = OpKind.REACTIVATE if active.hr else OpKind.DEACTIVATE
        ops.append(Operation(kind, key, remote_id, fields if active.hr else {}))
    if changed:
        ops.append(Operation(OpKind.UPDATE, key, remote_id, fields, changed))
    memberships = (
        (OpKind.GROUP_ADD, finding.missing_groups),
        (OpKind.GROUP_REMOVE, finding.extra_groups),
        (OpKind.ENROLL, finding.missing_courses),
        (OpKind.UNENROLL, finding.extra_courses),
    )
    for kind, targets in memberships:
        ops += [Operation(kind, key, remote_id, target=target) for target in sorted(targets)]
    return ops


def _link(
    finding: Finding,
    desired: DesiredUser | None,
    policy: DiffPolicy,
    policies: Policies,
    plan: Plan,
) -> list[Operation]:
    account = finding.account
    assert account is not None
    if (
        policies.on_unlinked_match != "link"
        or desired is None
        or finding.linked_elsewhere
        or not account.addressable
    ):
        finding.action = REPORT
        return []
    link = LinkState(
        hr_key=desired.hr_key,
        remote_id=account.remote_id,
        fields={},
        active=account.active,
        status=LinkStatus.LINKED if account.active else LinkStatus.DEACTIVATED,
    )
    plan.adopted[desired.hr_key] = link
    plan.links[desired.hr_key] = link
    plan.desired[desired.hr_key] = desired
    finding.action = "link"
    return diff_user(desired, link, policy)


def _orphan(finding: Finding, policies: Policies) -> list[Operation]:
    account = finding.account
    assert account is not None
    if policies.on_orphan != "deactivate":
        finding.action = REPORT
        return []
    if not account.active:
        finding.action = NONE  # already inactive
        return []
    if account.protected or not account.addressable:
        finding.action = REPORT  # the portal's owner, or an account the API cannot address
        return []
    finding.action = "deactivate"
    key = f"{ORPHAN_KEY}{account.remote_id}"
    return [Operation(OpKind.DEACTIVATE, key, account.remote_id)]
