"""The Learning Pool adapter: the Adapter protocol over the Simple API's configured endpoints.

One module per concern:

- ``endpoints``: calling only what ``target.endpoints`` configures, naming the key to
  set when an operation's endpoint is missing;
- ``api``: the token request, the record envelope and per-field refusal reasons;
- ``paging``: listings, paged as ``target.paging`` says, with a page cap;
- ``activity``: how ``target.deactivation`` deactivates and shows an account;
- ``fields``: the user field rules, checked before anything is sent;
- ``directory``: finding and reading back accounts (first sync, lost answers, conflicts);
- ``users``: create, update, deactivate and reactivate;
- ``memberships``: group members and enrolments;
- ``pull``: the in-progress and completions feeds, incremental when a since filter is
  configured.

Authentication is the shared OAuth2 client-credentials flow (``syncd.http.ClientCredentialsAuth``)
at ``target.token_path``, encoded as ``target.token_encoding`` says: the token is
cached per credential, renewed before it expires and once more on a 401; a second 401
raises ``AuthenticationError`` (exit code 4). Every call, the token request included,
goes through one ``VendorClient`` and so counts against the credential's rate limit,
shared by every process using the state store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog

import syncd.vendors.learningpool.fields as fields
from syncd.config.schema.targets import LearningPoolTarget
from syncd.http import OutcomeUnknown, RecordRejected
from syncd.model import DesiredUser, Operation, OpKind, Outcome, OutcomeStatus
from syncd.vendors.base import PullPage, RemoteAccount, TargetCheck
from syncd.vendors.client import vendor_client
from syncd.vendors.context import AdapterContext
from syncd.vendors.learningpool.accounts import AccountListing
from syncd.vendors.learningpool.activity import Activity
from syncd.vendors.learningpool.api import VENDOR, learningpool_auth
from syncd.vendors.learningpool.directory import Directory
from syncd.vendors.learningpool.endpoints import EndpointMissing, Endpoints
from syncd.vendors.learningpool.facts import FACTS
from syncd.vendors.learningpool.memberships import Memberships
from syncd.vendors.learningpool.paging import Pager
from syncd.vendors.learningpool.pull import (
    COMPLETIONS,
    IN_PROGRESS,
    FeedPull,
    ResultRecords,
    ResultsPull,
)
from syncd.vendors.learningpool.users import UserWriter
from syncd.vendors.skeleton import AdapterSkeleton, StatelessValidator

log = structlog.get_logger(__name__)


class LearningPoolAdapter(AdapterSkeleton):
    """``syncd.vendors.base.Adapter`` for the Learning Pool Simple API.

    For tests: ``clock`` (a callable giving the current aware datetime, used for
    expiry dates) and ``token_clock`` (monotonic seconds, for token renewal).
    """

    facts = FACTS
    vendor = VENDOR

    def __init__(
        self,
        target: LearningPoolTarget,
        context: AdapterContext,
        *,
        clock: Callable[[], datetime] | None = None,
        token_clock: Callable[[], float] | None = None,
    ) -> None:
        auth_options: dict[str, Any] = {}
        if token_clock is not None:
            auth_options["clock"] = token_clock
        token_path, encoding = target.token_path, target.token_encoding
        unset = FACTS.unset(target)
        if unset or token_path is None or encoding is None:  # ``config check`` reports it first
            key, why = unset[0]
            raise EndpointMissing(key, f"target.{key}: {why}")
        auth = learningpool_auth(
            target.base_url,
            target.client_id,
            target.client_secret.get_secret_value(),
            token_path,
            encoding,
            **auth_options,
        )
        client = vendor_client(
            VENDOR,
            target,
            context,
            auth=auth,
            credential_parts=(target.client_id,),
            headers={"Accept": "application/json"},
        )
        now: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        activity = Activity(target.deactivation, now)
        owned = activity.owned_field
        records = target.records
        user_rules = records.user
        validator = StatelessValidator(
            lambda values: fields.problems(values, user_rules, owned) if user_rules else []
        )
        super().__init__(target, context, client, validator)
        self.endpoints = Endpoints(target.endpoints, self.client)
        pager = Pager(self.endpoints, target.paging, records)
        self.directory = Directory(self.endpoints, pager, activity, records)
        self.user_rules = user_rules
        self.users = UserWriter(self.endpoints, self.client, self.directory, activity, records)
        self.memberships = Memberships(self.endpoints, self.client, pager, records)
        self.listing = AccountListing(
            pager, self.directory, self.memberships.groups, records, context.match
        )
        self.results = self._results(target, context, pager)

    # --- the protocol ------------------------------------------------------------------------

    def check_targets(self, groups: frozenset[str], courses: frozenset[str]) -> TargetCheck:
        """Groups through ``groups_list`` when configured; courses cannot be looked up."""
        if not groups or not self.endpoints.has("groups_list"):
            return TargetCheck()
        return TargetCheck(groups=self.memberships.groups.unusable(groups), groups_listed=True)

    def match_existing(
        self, users: Sequence[DesiredUser], match: str | None
    ) -> dict[str, RemoteAccount]:
        """Accounts found by ``match``, else by the HR id ``external_id``, else by username."""
        if not users:
            return {}
        field = match or self.context.match or self._natural_key(users)
        if not self.directory.available:
            log.info(
                "learningpool_match_skipped",
                reason="target.endpoints.users_list is not configured",
                people=len(users),
            )
            return {}
        values = {user.hr_key: user.fields.get(field) for user in users}
        return self._matched(field, len(users), self.directory.match(field, values))

    def begin_adoption(self, expected: int = 0) -> None:
        self.directory.begin_adoption(expected)

    def end_adoption(self) -> None:
        self.directory.end_adoption()

    def execute(self, ops: Sequence[Operation]) -> list[Outcome]:
        return [self._execute(op) for op in ops]

    def poll_job(self, job_id: str, ops: Sequence[Operation]) -> list[Outcome] | None:
        """Learning Pool writes answer at once; an unknown job leaves its operations to resend."""
        reason = f"Learning Pool has no asynchronous jobs (job {job_id!r} is unknown)"
        return [Outcome(op, OutcomeStatus.RETRY, error=reason) for op in ops]

    def pull(self, cursor: Mapping[str, Any] | None) -> Iterator[PullPage]:
        """At most ``pull_budget()`` pages of the feeds, shared between them. With the default
        60 a minute (the default margin keeps all of it) and a share of 0.5, a cycle reads 30
        pages of completions, or 15 of each with an in-progress feed; a larger backlog takes
        several cycles."""
        self.endpoints.get(COMPLETIONS)  # EndpointMissing names the key to set
        return self.results.pages(cursor)

    # --- helpers -----------------------------------------------------------------------------

    def _results(
        self, target: LearningPoolTarget, context: AdapterContext, pager: Pager
    ) -> ResultsPull:
        """The configured feeds, in-progress first, sharing the pull's budget."""
        names = [n for n in (IN_PROGRESS, COMPLETIONS) if n in target.endpoints.configured()]
        named = target.records.result
        if named is None:  # no feed configured (else the adapter refused to start)
            return ResultsPull([])
        share = max(1, self.pull_budget() // max(1, len(names)))
        feeds = [
            FeedPull(
                pager,
                name,
                ResultRecords(named),
                since_param=getattr(target.endpoints, name).since_param,
                budget=share,
                start=context.pull.start_date,
                overlap=context.pull.overlap,
            )
            for name in names
        ]
        return ResultsPull(feeds)

    def _natural_key(self, users: Sequence[DesiredUser]) -> str:
        """The HR id when the mapping sends one, else the first field unique per platform."""
        rules = self.user_rules
        if rules is None:  # config check names target.records.user
            raise EndpointMissing("records.user", "target.records.user is not configured")
        hr_id = rules.hr_id
        if hr_id and any(fields.text(user.fields.get(hr_id)) for user in users):
            return hr_id
        return rules.unique[0]

    def _execute(self, op: Operation) -> Outcome:
        if op.kind is not OpKind.CREATE and not op.remote_id:
            return Outcome(
                op, OutcomeStatus.FAILED, error=f"no Learning Pool account id for {op.hr_key}"
            )
        try:
            return self._dispatch(op)
        except EndpointMissing as missing:
            return Outcome(op, OutcomeStatus.FAILED, error=str(missing))
        except RecordRejected as rejected:
            return Outcome(op, OutcomeStatus.FAILED, error=f"Learning Pool refused it: {rejected}")
        except OutcomeUnknown as unknown:
            return Outcome(op, OutcomeStatus.UNKNOWN, error=str(unknown))

    def _dispatch(self, op: Operation) -> Outcome:
        if op.kind is OpKind.CREATE:
            return self.users.create(op)
        if op.kind is OpKind.UPDATE:
            return self.users.update(op)
        if op.kind is OpKind.DEACTIVATE:
            return self.users.deactivate(op)
        if op.kind is OpKind.REACTIVATE:
            return self.users.reactivate(op)
        if op.kind is OpKind.DELETE:
            return Outcome(
                op,
                OutcomeStatus.FAILED,
                error="syncd deactivates Learning Pool users (as Learning Pool recommends) and "
                "never deletes them; use users.on_missing: deactivate",
            )
        return self.memberships.execute(op)
