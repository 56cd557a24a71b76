"""Reconciliation, step 2: each LMS account gets one situation (after midPoint's). Pure.

The accounts the LMS lists are compared with the links (which account is whose) and
with HR's desired state (what it should look like):

- ``in_sync``: linked, and as HR wants it;
- ``drifted``: linked, but an HR-owned field, the active flag, or a mapped membership or
  enrollment differs (each difference named, with the LMS value and the HR value);
- ``missing_remote``: linked, but the LMS no longer has the account;
- ``orphan``: not linked, and its match key matches nobody HR knows;
- ``unlinked_match``: not linked, but its match key matches an HR person in scope.

Accounts whose match key belongs to someone syncd does not manage now (out of scope,
a record held back, a create still in flight) get no situation: neither linked nor
orphaned, they are left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from syncd.engine.diff import DiffPolicy
from syncd.model import DesiredUser, LinkState, LinkStatus
from syncd.vendors.base import ListedAccount


class Situation(StrEnum):
    IN_SYNC = "in_sync"
    DRIFTED = "drifted"
    MISSING_REMOTE = "missing_remote"
    ORPHAN = "orphan"
    UNLINKED_MATCH = "unlinked_match"


LIVE = (LinkStatus.LINKED, LinkStatus.DEACTIVATED)
"""Links that name an account the LMS should have."""

Comparable = Callable[[str, Any], Any]


@dataclass(frozen=True, slots=True)
class Difference:
    lms: Any
    hr: Any


@dataclass(slots=True)
class Finding:
    """One account's situation and every difference that makes it so."""

    situation: Situation
    lms_user_id: str | None
    hr_key: str | None = None
    fields: dict[str, Difference] = field(default_factory=dict)  # "active" among them
    missing_groups: frozenset[str] = frozenset()
    extra_groups: frozenset[str] = frozenset()
    missing_courses: frozenset[str] = frozenset()
    extra_courses: frozenset[str] = frozenset()
    account: ListedAccount | None = None
    linked_elsewhere: str | None = None  # unlinked_match whose person has another account
    action: str = "none"  # what the run did or would do about it

    @property
    def differs_in_memberships(self) -> bool:
        return bool(
            self.missing_groups or self.extra_groups or self.missing_courses or self.extra_courses
        )

    def as_json(self) -> dict[str, Any]:
        """One object of ``syncd reconcile --json``."""
        return {
            "situation": self.situation.value,
            "hr_key": self.hr_key,
            "lms_user_id": self.lms_user_id,
            "fields": {name: {"lms": d.lms, "hr": d.hr} for name, d in self.fields.items()},
            "groups": {"missing": sorted(self.missing_groups), "extra": sorted(self.extra_groups)},
            "courses": {
                "missing": sorted(self.missing_courses),
                "extra": sorted(self.extra_courses),
            },
            "action": self.action,
        }


@dataclass(frozen=True, slots=True)
class Expected:
    """What HR and the links say, everything ``classify`` compares the LMS with."""

    desired: Mapping[str, DesiredUser]  # every valid HR person in scope
    links: Mapping[str, LinkState]  # every link of the connector
    match_of: Mapping[str, str]  # normalised match value -> HR key of a desired person
    unmanaged: frozenset[str] = frozenset()  # match values of people syncd leaves alone now
    left_alone: frozenset[str] = frozenset()  # their HR keys (a record held back, in flight)
    groups: frozenset[str] = frozenset()  # memberships the mapping manages
    courses: frozenset[str] = frozenset()


def managed_memberships(
    desired: Iterable[DesiredUser], links: Iterable[LinkState]
) -> tuple[frozenset[str], frozenset[str]]:
    """Groups and courses the mapping gives anyone or syncd ever pushed: the ones compared.

    A group an LMS admin keeps for other purposes appears in neither and is never touched.
    """
    groups: set[str] = set()
    courses: set[str] = set()
    for item in [*desired, *links]:
        groups |= item.groups
        courses |= item.courses
    return frozenset(groups), frozenset(courses)


def classify(
    accounts: Iterable[ListedAccount],
    gone: Iterable[str],
    expected: Expected,
    policy: DiffPolicy,
    comparable: Comparable,
) -> list[Finding]:
    """A finding per account (and per linked account the LMS no longer has, in ``gone``)."""
    owner = {
        link.remote_id: link.hr_key
        for link in expected.links.values()
        if link.status in LIVE and link.remote_id
    }
    findings: list[Finding] = []
    for account in accounts:
        hr_key = owner.get(account.remote_id)
        if hr_key in expected.left_alone:
            continue  # its HR record cannot be used now: neither judged nor deprovisioned
        if hr_key is not None:
            findings.append(_linked(account, hr_key, expected, policy, comparable))
        else:
            finding = _unlinked(account, expected)
            if finding is not None:
                findings.append(finding)
    for remote_id in gone:
        hr_key = owner.get(remote_id)
        if hr_key is not None and hr_key not in expected.left_alone:
            findings.append(Finding(Situation.MISSING_REMOTE, remote_id, hr_key))
    return findings


def _linked(
    account: ListedAccount,
    hr_key: str,
    expected: Expected,
    policy: DiffPolicy,
    comparable: Comparable,
) -> Finding:
    finding = Finding(Situation.IN_SYNC, account.remote_id, hr_key, account=account)
    desired = expected.desired.get(hr_key)
    if desired is None and policy.on_missing == "ignore":
        return finding  # a leaver's account is left as it is
    active = desired is not None and desired.active
    if account.active != active:
        finding.fields["active"] = Difference(account.active, active)
    if active:
        assert desired is not None
        finding.fields.update(_field_differences(account, desired, policy, comparable))
        _memberships(finding, account, desired.groups, desired.courses, expected, policy)
    elif policy.leaver_groups == "remove":
        _memberships(finding, account, frozenset(), None, expected, policy)
    if finding.fields or finding.differs_in_memberships:
        finding.situation = Situation.DRIFTED
    return finding


def _field_differences(
    account: ListedAccount, desired: DesiredUser, policy: DiffPolicy, comparable: Comparable
) -> dict[str, Difference]:
    """HR-owned fields the listing shows whose values differ as the vendor compares them.

    A field HR leaves empty where the vendor keeps what it has (``comparable`` None) is
    not HR's to judge; write-only fields (passwords) are never compared.
    """
    found: dict[str, Difference] = {}
    for name in sorted(desired.fields):
        if name in policy.write_only_fields or name not in account.fields:
            continue
        hr_value = comparable(name, desired.fields[name])
        if hr_value is None:
            continue
        if comparable(name, account.fields[name]) != hr_value:
            found[name] = Difference(account.fields[name], desired.fields[name])
    return found


def _memberships(
    finding: Finding,
    account: ListedAccount,
    groups: frozenset[str],
    courses: frozenset[str] | None,
    expected: Expected,
    policy: DiffPolicy,
) -> None:
    """Mapped memberships missing or extra; ``courses`` None: enrollments are not judged."""
    if account.groups is not None:
        finding.missing_groups = groups - account.groups
        finding.extra_groups = (account.groups & expected.groups) - groups
    if account.courses is not None and courses is not None:
        finding.missing_courses = courses - account.courses
        if policy.unenroll_removed:
            finding.extra_courses = (account.courses & expected.courses) - courses


def _unlinked(account: ListedAccount, expected: Expected) -> Finding | None:
    match = account.match
    hr_key = expected.match_of.get(match) if match else None
    if hr_key is not None:
        finding = Finding(Situation.UNLINKED_MATCH, account.remote_id, hr_key, account=account)
        link = expected.links.get(hr_key)
        if link is not None and link.status in LIVE and link.remote_id:
            finding.linked_elsewhere = link.remote_id
        return finding
    if match and match in expected.unmanaged:
        return None
    return Finding(Situation.ORPHAN, account.remote_id, account=account)
