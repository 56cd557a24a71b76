"""The TalentLMS adapter: the Adapter protocol over API v2, one module per concern.

- ``users``: account writes, singly or through ``/batch/users`` tasks;
- ``directory``: finding accounts by email or login (matching, new ids);
- ``memberships``: groups and branches; ``enrollments``: courses and learning paths;
- ``tasks``: polling batch tasks and reading their reports;
- ``pull``: timeline + course-progress into learning results;
- ``fields`` and ``validation``: the documented field rules.

Every request goes through one ``VendorClient`` built by ``vendor_client``, so
every page read and task poll counts against the credential's shared limits.

What the adapter declares (``facts.FACTS``) is what configuration checks hold a connector to.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import structlog

from syncd.config.schema.targets import TalentLMSTarget
from syncd.model import DesiredUser, Operation, OpKind, Outcome, OutcomeStatus
from syncd.vendors.base import (
    PullPage,
    RemoteAccount,
    TargetCheck,
)
from syncd.vendors.client import vendor_client
from syncd.vendors.context import AdapterContext
from syncd.vendors.skeleton import AdapterSkeleton
from syncd.vendors.talentlms.accounts import AccountListing
from syncd.vendors.talentlms.api import (
    PORTAL_REFUSALS,
    USER_FIELDS,
    VENDOR,
    iter_pages,
    refused_in_body,
    talentlms_auth,
)
from syncd.vendors.talentlms.directory import Directory
from syncd.vendors.talentlms.enrollments import Enrollments
from syncd.vendors.talentlms.facts import FACTS, MATCH_FIELDS, match_field
from syncd.vendors.talentlms.memberships import Memberships
from syncd.vendors.talentlms.pull import TimelinePull
from syncd.vendors.talentlms.readback import read_back
from syncd.vendors.talentlms.tasks import TaskPoller
from syncd.vendors.talentlms.users import UserWriter
from syncd.vendors.talentlms.validation import CustomField, Validator, parse_definitions

log = structlog.get_logger(__name__)


class TalentLMSAdapter(AdapterSkeleton):
    """TalentLMS API v2 behind the Adapter protocol."""

    facts = FACTS
    vendor = VENDOR

    def __init__(self, target: TalentLMSTarget, context: AdapterContext) -> None:
        self.match = match = match_field(context.match)
        api_key = target.api_key.get_secret_value()
        client = vendor_client(
            VENDOR,
            target,
            context,
            auth=talentlms_auth(api_key, target.api_version),
            credential_parts=(api_key,),
            portal_refusals=PORTAL_REFUSALS,
            refused_in_body=refused_in_body,
        )
        super().__init__(target, context, client, Validator(self._custom_field_definitions))
        self.directory = Directory(self.client)
        self.listing = AccountListing(self.client, match)
        self.users = UserWriter(
            self.client,
            self.directory,
            match_field=match,
            password_length=target.password_length,
        )
        self.memberships = Memberships(self.client, context.creatable_group_kinds)
        self.enrollments = Enrollments(self.client)
        self.tasks = TaskPoller(self.client, target.timeout, target.deadline)
        self.timeline = TimelinePull(
            self.client,
            start=context.pull.start_date,
            overlap=context.pull.overlap,
        )

    # --- the protocol ------------------------------------------------------------------------

    def match_existing(
        self, users: Sequence[DesiredUser], match: str | None
    ) -> dict[str, RemoteAccount]:
        field = match or self.match
        if field not in MATCH_FIELDS:
            raise ValueError(f"TalentLMS cannot find accounts by {field!r}; use email or login")
        values = {user.hr_key: user.fields.get(field) for user in users}
        return self._matched(field, len(users), self.directory.match(field, values))

    def begin_adoption(self, expected: int = 0) -> None:
        self.directory.begin_adoption(expected)

    def end_adoption(self) -> None:
        self.directory.end_adoption()

    def execute(self, ops: Sequence[Operation]) -> list[Outcome]:
        if not ops:
            return []
        kind = ops[0].kind
        if any(op.kind is not kind for op in ops):
            raise ValueError("execute takes operations of one kind")
        ready, refused = self._with_remote_ids(ops)
        outcomes: dict[int, Outcome] = {id(o.op): o for o in refused}
        if ready:
            for outcome in self._dispatch(kind, ready):
                outcomes[id(outcome.op)] = outcome
                if outcome.status is OutcomeStatus.PENDING and outcome.job_id:
                    self.tasks.submitted(outcome.job_id)
        return [outcomes[id(op)] for op in ops]

    def poll_job(self, job_id: str, ops: Sequence[Operation]) -> list[Outcome] | None:
        listed = self.users.listed_outcomes(job_id, ops)
        if listed is not None:
            self.tasks.settled(job_id)
            return listed
        if self.tasks.waits(job_id):
            return None
        task = self.tasks.poll(job_id)
        if not task.finished:
            return None
        log.info(
            "talentlms_task_finished",
            task_id=job_id,
            status=task.status,
            processed=task.processed,
            report=task.report is not None,
        )
        if ops and ops[0].kind is OpKind.ENROLL:
            return read_back(task, ops, self.enrollments.task_outcomes)
        return read_back(task, ops, self.users.task_outcomes)

    def pull(self, cursor: Mapping[str, Any] | None) -> Iterator[PullPage]:
        return self.timeline.pages(cursor)

    def check_targets(self, groups: frozenset[str], courses: frozenset[str]) -> TargetCheck:
        return TargetCheck(
            groups=self.memberships.unusable(groups),
            courses=self.enrollments.unusable(courses),
            groups_listed=True,
            courses_listed=True,
        )

    # --- helpers -----------------------------------------------------------------------------

    def _dispatch(self, kind: OpKind, ops: list[Operation]) -> list[Outcome]:
        if kind is OpKind.CREATE:
            return self.users.create(ops)
        if kind is OpKind.UPDATE:
            return self.users.update(ops)
        if kind is OpKind.DEACTIVATE:
            return self.users.set_active(ops, False)
        if kind is OpKind.REACTIVATE:
            return self.users.set_active(ops, True)
        if kind is OpKind.DELETE:
            return self.users.delete(ops)
        if kind in (OpKind.GROUP_ADD, OpKind.GROUP_REMOVE):
            return [self.memberships.execute(op) for op in ops]
        return self.enrollments.execute(ops)

    @staticmethod
    def _with_remote_ids(ops: Sequence[Operation]) -> tuple[list[Operation], list[Outcome]]:
        """Operations on an existing account need its numeric TalentLMS id."""
        ready, refused = [], []
        for op in ops:
            if op.kind is OpKind.CREATE or str(op.remote_id or "").isdigit():
                ready.append(op)
            else:
                refused.append(
                    Outcome(
                        op,
                        OutcomeStatus.FAILED,
                        error=f"no TalentLMS account id for {op.hr_key} (found {op.remote_id!r})",
                    )
                )
        return ready, refused

    def _custom_field_definitions(self) -> dict[str, CustomField]:
        items: list[dict[str, Any]] = []
        for page in iter_pages(self.client, USER_FIELDS):
            items.extend(page.items)
        return parse_definitions(items)
