"""Group memberships and enrolments on learning experiences.

Groups cannot be created through any configurable endpoint, so a mapping names
groups that exist: by External Ref (the help centre's "name used if your LXP talks
to HR systems") or by name. ``groups_list`` is read once per adapter and the
group's id fills ``{group_id}``. Adding a member twice, or removing one who is
not a member, is what was asked for, not an error.

An enrolment's ``{course_id}`` is the learning experience as the mapping writes
it (its id or External ID), sent as is: syncd has no endpoint to look courses up.
Enrolling twice is harmless; unenrolling is never done (it would discard progress).
"""

from __future__ import annotations

from typing import Any

import structlog

from syncd.http import VendorClient
from syncd.limits import Priority
from syncd.model import Operation, OpKind, Outcome
from syncd.vendors.learningpool.api import iter_pages, refusal
from syncd.vendors.learningpool.endpoints import Endpoints
from syncd.vendors.learningpool.fields import text
from syncd.vendors.learningpool.users import REFUSALS, done, failed

log = structlog.get_logger(__name__)


class Groups:
    """Groups by External Ref and by name, read once from ``groups_list``."""

    def __init__(self, endpoints: Endpoints) -> None:
        self._endpoints = endpoints
        self._by_ref: dict[str, str] | None = None
        self._by_name: dict[str, str] = {}

    def resolve(self, label: str, priority: Priority = Priority.WRITE) -> str | None:
        """The id of the group whose External Ref (exactly) or name (any case) is ``label``."""
        if self._by_ref is None:
            self._by_ref = {}
            for page in iter_pages(self._endpoints, "groups_list", priority=priority):
                for group in page.items:
                    group_id = text(group.get("id"))
                    if not group_id:
                        continue
                    ref = text(group.get("external_ref"))
                    if ref:
                        self._by_ref[ref] = group_id
                    name = text(group.get("name")).casefold()
                    if name:
                        self._by_name.setdefault(name, group_id)
            log.info("learningpool_groups_read", groups=len(self._by_name))
        return self._by_ref.get(label) or self._by_name.get(label.casefold())


    def unusable(self, labels: frozenset[str]) -> dict[str, str]:
        """Groups among ``labels`` that ``groups_list`` (read priority) does not show, and why."""
        return {
            label: f"no Learning Pool group has {label!r} as its External Ref or name "
            "(groups cannot be created through the API)"
            for label in sorted(labels)
            if not label.strip() or self.resolve(label, Priority.READ) is None
        }


class Memberships:
    """GROUP_ADD, GROUP_REMOVE and ENROLL, one call each."""

    def __init__(self, endpoints: Endpoints, client: VendorClient) -> None:
        self._endpoints = endpoints
        self._client = client
        self.groups = Groups(endpoints)

    def execute(self, op: Operation) -> Outcome:
        if op.kind is OpKind.ENROLL:
            return self._enrol(op)
        if op.kind is OpKind.UNENROLL:
            return failed(
                op,
                "Learning Pool has no configurable unenrolment endpoint; "
                "the enrolment stays (its progress is kept)",
            )
        return self._membership(op, removing=op.kind is OpKind.GROUP_REMOVE)

    def _membership(self, op: Operation, *, removing: bool) -> Outcome:
        label = text(op.target)
        group_id = self.groups.resolve(label) if label else None
        if group_id is None:
            if removing:
                return done(op)  # no such group: nobody is in it
            return failed(
                op,
                f"group {label!r} does not exist in Learning Pool (looked up by External Ref "
                "and by name); create it there first, syncd cannot create groups",
            )
        name = "group_member_remove" if removing else "group_member_add"
        ids: dict[str, Any] = {"group_id": group_id, "user_id": op.remote_id, "hr_key": op.hr_key}
        response = self._endpoints.call(
            name, ids=ids, body_ids=("user_id",), idempotent=True, accept=REFUSALS
        )
        if removing and response.status_code == 404:
            return done(op)  # not a member (or no longer there): what was asked
        if response.status_code in REFUSALS:
            verb = "remove" if removing else "add"
            reason = refusal(response, self._client.secrets()).reason
            return failed(op, f"Learning Pool refused to {verb} group {label!r}: {reason}")
        return done(op)

    def _enrol(self, op: Operation) -> Outcome:
        course = text(op.target)
        if not course:
            return failed(op, "the enrolment names no learning experience")
        ids: dict[str, Any] = {"course_id": course, "user_id": op.remote_id, "hr_key": op.hr_key}
        response = self._endpoints.call(
            "enrolment_create",
            ids=ids,
            body_ids=("user_id", "course_id"),
            idempotent=True,
            accept=REFUSALS,
        )
        if response.status_code in REFUSALS:
            reason = refusal(response, self._client.secrets()).reason
            return failed(
                op,
                f"Learning Pool refused the enrolment on learning experience {course!r}: {reason}",
            )
        return done(op)
