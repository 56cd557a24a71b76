"""The iLMS adapter: the Adapter protocol over the iLMS REST API, one module per concern.

- ``api``: paths, the three credential headers, paging, answers and error reading;
- ``fields`` and ``lookups``: the field table and its lookup values; ``validation``
  applies them (with ``hierarchy``, the organization's region/division/department tree);
- ``directory``: finding existing accounts by a profile field;
- ``users``: account writes; ``memberships``: groups; ``enrollments``: courses, curricula;
- ``scan``, ``summary`` and ``results``: learning results, read where the enrollment
  summary counts moved, completed from transcripts, within the pull's budget.

Every request goes through one ``VendorClient`` built by ``vendor_client``: its
limiter follows ``target.rate_limit`` (60 a minute unless configured, since iLMS
documents no limit), shared by every process through the state store; 429s pause
the credential, 5xx and lost connections are retried with backoff.

iLMS has no batch or asynchronous endpoint (digest §8): every operation is one call,
and ``poll_job`` is never needed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog

from syncd.config.schema.targets import ILMSTarget
from syncd.http import OutcomeUnknown, RecordRejected
from syncd.model import DesiredUser, Operation, OpKind, Outcome, OutcomeStatus
from syncd.vendors.base import PullPage, RemoteAccount, TargetCheck
from syncd.vendors.context import AdapterContext
from syncd.vendors.ilms.accounts import AccountListing
from syncd.vendors.ilms.api import VENDOR, ILMSApi, open_client
from syncd.vendors.ilms.directory import LOOKUP_LIMIT, Directory
from syncd.vendors.ilms.enrollments import Enrollments
from syncd.vendors.ilms.facts import FACTS, match_codes
from syncd.vendors.ilms.fields import match_of
from syncd.vendors.ilms.hierarchy import Hierarchy
from syncd.vendors.ilms.memberships import Memberships
from syncd.vendors.ilms.scan import ChangeScan
from syncd.vendors.ilms.users import UserWriter
from syncd.vendors.ilms.validation import Validator
from syncd.vendors.skeleton import AdapterSkeleton

log = structlog.get_logger(__name__)


class ILMSAdapter(AdapterSkeleton):
    """iLMS behind the Adapter protocol.

    ``lookup_limit``: how many people are looked up one by one before one listing of
    all users is cheaper (tests lower it).
    """

    facts = FACTS
    vendor = VENDOR

    def __init__(
        self, target: ILMSTarget, context: AdapterContext, *, lookup_limit: int = LOOKUP_LIMIT
    ) -> None:
        self.match_codes = match_codes(context.match)
        self.api = ILMSApi(open_client(target, context), target.org_id)
        validator = Validator(target, Hierarchy(self.api), self.match_codes)
        super().__init__(target, context, self.api.client, validator)
        self.directory = Directory(self.api, lookup_limit)
        self.users = UserWriter(
            self.api,
            self.directory,
            match_codes=self.match_codes,
            send_registration_mail=target.send_registration_mail,
            problems=validator.problems,
        )
        self.memberships = Memberships(self.api)
        self.listing = AccountListing(self.api, self.memberships, self.match_codes)
        self.enrollments = Enrollments(self.api)

    # --- the protocol ------------------------------------------------------------------------

    def match_existing(
        self, users: Sequence[DesiredUser], match: str | None
    ) -> dict[str, RemoteAccount]:
        """Accounts whose match field (``users.match``, else F004 or F015) has the person's
        value; active and inactive ones, never deleted ones."""
        codes = match_codes(match) if match is not None else self.match_codes
        by_code: dict[str, dict[str, str]] = {}
        for user in users:
            found_value = match_of(user.fields, codes)
            if found_value is not None:
                by_code.setdefault(found_value[0], {})[user.hr_key] = found_value[1]
        accounts: dict[str, RemoteAccount] = {}
        for code, values in by_code.items():
            found = self.directory.find(code, values, share=len(values) / len(users))
            accounts.update(self._matched(code, len(values), found))
        return accounts

    def begin_adoption(self, expected: int = 0) -> None:
        self.directory.begin_adoption(expected)

    def end_adoption(self) -> None:
        self.directory.end_adoption()

    def execute(self, ops: Sequence[Operation]) -> list[Outcome]:
        return [self._execute(op) for op in ops]

    def check_targets(self, groups: frozenset[str], courses: frozenset[str]) -> TargetCheck:
        return TargetCheck(
            groups=self.memberships.unusable(groups) if groups else {},
            courses=self.enrollments.unusable(courses),
            groups_listed=True,
            courses_listed=True,
        )

    def poll_job(self, job_id: str, ops: Sequence[Operation]) -> list[Outcome] | None:
        """iLMS has no asynchronous jobs: an operation waiting on one is sent again."""
        return [
            Outcome(op, OutcomeStatus.RETRY, error=f"iLMS has no job {job_id}; sent again")
            for op in ops
        ]

    def pull(self, cursor: Mapping[str, Any] | None) -> Iterator[PullPage]:
        """A slice of the round (summary counts, then the enrollments of courses whose counts
        moved, then the transcripts of people whose enrollment moved) within
        ``pull_budget()`` calls: with iLMS's default of 60 a minute (the default margin keeps
        all of it) and the default share of 0.5, 30 calls a cycle."""
        scan = ChangeScan(
            self.api,
            self.pull_budget(),
            self.context.results,
            self.target.results_recheck_every,
            lambda: datetime.now(UTC),
        )
        yield from scan.pages(cursor)

    # --- operations --------------------------------------------------------------------------

    def _execute(self, op: Operation) -> Outcome:
        if op.kind is not OpKind.CREATE and not str(op.remote_id or "").isdigit():
            return Outcome(
                op,
                OutcomeStatus.FAILED,
                error=f"no iLMS user id for {op.hr_key} (found {op.remote_id!r})",
            )
        try:
            return self._dispatch(op)
        except RecordRejected as rejected:
            error = f"iLMS refused it (HTTP {rejected.status}): {rejected.message}"
            return Outcome(op, OutcomeStatus.FAILED, error=error)
        except OutcomeUnknown as unknown:
            return Outcome(op, OutcomeStatus.UNKNOWN, error=str(unknown))

    def _dispatch(self, op: Operation) -> Outcome:
        kind = op.kind
        if kind is OpKind.CREATE:
            return self.users.create(op)
        if kind is OpKind.UPDATE:
            return self.users.update(op)
        if kind is OpKind.DEACTIVATE:
            return self.users.deactivate(op)
        if kind is OpKind.REACTIVATE:
            return self.users.reactivate(op)
        if kind in (OpKind.GROUP_ADD, OpKind.GROUP_REMOVE):
            return self.memberships.execute(op)
        if kind in (OpKind.ENROLL, OpKind.UNENROLL):
            return self.enrollments.execute(op)
        return Outcome(
            op,
            OutcomeStatus.FAILED,
            error="iLMS cannot delete users (its API only deactivates them); "
            "use on_missing: deactivate or ignore",
        )
