"""Group memberships and enrolments on learning experiences.

Groups cannot be created through any configurable endpoint, so a mapping names
groups that exist: by External Ref (the help centre's "name used if your LXP talks
to HR systems") or by name. ``groups_list`` is read once per adapter and the
group's id fills ``{group_id}``.

An enrolment's ``{course_id}`` is the learning experience as the mapping writes it
(its id or External ID), sent as is: syncd has no endpoint to look courses up.
Unenrolling is never done (it would discard progress).

What the platform holds decides, never a status code alone (SPEC §9). A write sent
again (a lost answer, a crash) reads the state first and sends nothing when it is
already so; a refusal or a 404 ("already a member", "not a member", "already
enrolled") is settled by reading the group's members (``group_members_list``) or the
user's enrolments (``user_enrolments_list``). Without that endpoint such an answer
fails, saying which endpoint would settle it. Each write goes out with its configured
method's own semantics: a POST is not resent blindly, a PUT or DELETE may be.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpx
import structlog

from syncd.config.schema.targets import GroupRecord, LearningPoolRecords
from syncd.http import VendorClient
from syncd.limits import Priority
from syncd.model import Operation, OpKind, Outcome
from syncd.vendors.learningpool.api import field_value, refusal
from syncd.vendors.learningpool.endpoints import EndpointMissing, Endpoints
from syncd.vendors.learningpool.fields import text
from syncd.vendors.learningpool.paging import Page, Pager
from syncd.vendors.learningpool.users import REFUSALS, done, failed

log = structlog.get_logger(__name__)

GROUPS = "groups_list"
MEMBERS = "group_members_list"
ENROLMENTS = "user_enrolments_list"


class Groups:
    """Groups by External Ref and by name, read once from ``groups_list``."""

    def __init__(self, pager: Pager, names: GroupRecord | None) -> None:
        self._pager = pager
        self._names = names
        self._by_ref: dict[str, str] | None = None
        self._by_name: dict[str, str] = {}

    def resolve(self, label: str, priority: Priority = Priority.WRITE) -> str | None:
        """The id of the group whose External Ref (exactly) or name (any case) is ``label``."""
        if self._by_ref is None:
            names = self._names
            if names is None:  # config check names target.records.group
                raise EndpointMissing("records.group", "target.records.group is not configured")
            self._by_ref = {}
            for page in self._pager.pages(GROUPS, priority=priority):
                for group in page.items:
                    group_id = text(field_value(group, names.id))
                    if not group_id:
                        continue
                    ref = text(field_value(group, names.external_ref)) if names.external_ref else ""
                    if ref:
                        self._by_ref[ref] = group_id
                    name = text(field_value(group, names.name)).casefold()
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
    """GROUP_ADD, GROUP_REMOVE and ENROLL, one call each, settled by reading when in doubt."""

    def __init__(
        self,
        endpoints: Endpoints,
        client: VendorClient,
        pager: Pager,
        records: LearningPoolRecords,
    ) -> None:
        self._endpoints = endpoints
        self._client = client
        self._pager = pager
        self.groups = Groups(pager, records.group)
        self.member_field = records.member_user_id
        self._course_fields = records.enrolment_course or []

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
                return done(op)  # no such group (as groups_list shows): nobody is in it
            return failed(
                op,
                f"group {label!r} does not exist in Learning Pool (looked up by External Ref "
                "and by name); create it there first, syncd cannot create groups",
            )
        name = "group_member_remove" if removing else "group_member_add"
        ids: dict[str, Any] = {"group_id": group_id, "user_id": op.remote_id, "hr_key": op.hr_key}
        verb = "remove" if removing else "add"
        return self._settled(
            op,
            wanted=not removing,
            holds=lambda: self._member(group_id, str(op.remote_id)),
            reader=MEMBERS,
            send=lambda: self._endpoints.call(
                name, ids=ids, body_ids=("user_id",), accept=REFUSALS
            ),
            refused=f"Learning Pool refused to {verb} group {label!r}",
        )

    def _enrol(self, op: Operation) -> Outcome:
        course = text(op.target)
        if not course:
            return failed(op, "the enrolment names no learning experience")
        ids: dict[str, Any] = {"course_id": course, "user_id": op.remote_id, "hr_key": op.hr_key}
        return self._settled(
            op,
            wanted=True,
            holds=lambda: self._enrolled(str(op.remote_id), course),
            reader=ENROLMENTS,
            send=lambda: self._endpoints.call(
                "enrolment_create", ids=ids, body_ids=("user_id", "course_id"), accept=REFUSALS
            ),
            refused=f"Learning Pool refused the enrolment on learning experience {course!r}",
        )

    def _settled(
        self,
        op: Operation,
        *,
        wanted: bool,
        holds: Callable[[], bool],
        reader: str,
        send: Callable[[], httpx.Response],
        refused: str,
    ) -> Outcome:
        """Send unless a resend finds it already so; settle any refusal by reading."""
        readable = self._pager.available(reader)
        if op.attempts > 1 and readable and holds() is wanted:
            log.info("learningpool_already_so", hr_key=op.hr_key, operation=op.kind.value)
            return done(op)  # the lost answer's write had gone through
        response = send()
        if response.status_code not in REFUSALS:
            return done(op)
        reason = f"{refused}: {refusal(response, self._client.secrets()).reason}"
        if not readable:
            return failed(
                op,
                f"{reason}; configure target.endpoints.{reader} so syncd can read whether "
                "it is already so",
            )
        if holds() is wanted:
            log.info("learningpool_refusal_settled", hr_key=op.hr_key, operation=op.kind.value)
            return done(op)
        return failed(op, reason)

    def _member(self, group_id: str, user_id: str) -> bool:
        pages = self._pager.pages(MEMBERS, ids={"group_id": group_id}, priority=Priority.WRITE)
        return any(member == user_id for member in member_ids(pages, self.member_field))

    def _enrolled(self, user_id: str, course: str) -> bool:
        ids = {"user_id": user_id}
        for page in self._pager.pages(ENROLMENTS, ids=ids, priority=Priority.WRITE):
            for item in page.items:
                if any(course == text(field_value(item, f)) for f in self._course_fields):
                    return True
        return False


def member_ids(pages: Iterable[Page], field: str | None) -> Iterator[str]:
    """The user ids (in ``field``: ``target.records.member_user_id``) of a group's member
    pages, read lazily (a lookup stops at its user)."""
    if field is None:  # config check names target.records.member_user_id
        raise EndpointMissing(
            "records.member_user_id", "target.records.member_user_id is not configured"
        )
    for page in pages:
        for item in page.items:
            user_id = text(field_value(item, field))
            if user_id:
                yield user_id
