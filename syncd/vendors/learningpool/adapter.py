"""The Learning Pool adapter: the Adapter protocol over the Simple API's configured endpoints.

One module per concern:

- ``endpoints``: calling only what ``target.endpoints`` configures, naming the key to
  set when an operation's endpoint is missing;
- ``api``: the answer envelope, paging and per-field refusal reasons;
- ``fields``: the user field rules, checked before anything is sent;
- ``directory``: finding existing accounts (first sync, lost answers, conflicts);
- ``users``: create, update, deactivate (an expiry date) and reactivate;
- ``memberships``: group members and enrolments;
- ``pull``: the completions feed, incremental when a since filter is configured.

Authentication is the shared OAuth2 client-credentials flow (``syncd.http.ClientCredentialsAuth``):
the token is cached per credential, renewed before it expires and once more on a
401; a second 401 raises ``AuthenticationError`` (exit code 4). Every call, the
token request included, goes through one ``VendorClient`` and so counts against
the credential's rate limit, shared by every process using the state store.
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
from syncd.vendors.learningpool.api import VENDOR, learningpool_auth
from syncd.vendors.learningpool.directory import Directory
from syncd.vendors.learningpool.endpoints import EndpointMissing, Endpoints
from syncd.vendors.learningpool.facts import FACTS
from syncd.vendors.learningpool.memberships import Memberships
from syncd.vendors.learningpool.pull import CompletionsPull
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
        auth = learningpool_auth(
            target.base_url,
            target.client_id,
            target.client_secret.get_secret_value(),
            target.token_path,
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
        super().__init__(target, context, client, StatelessValidator(fields.problems))
        self.endpoints = Endpoints(target.endpoints, self.client)
        self.directory = Directory(self.endpoints)
        self.listing = AccountListing(self.endpoints, context.match)
        now: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.users = UserWriter(self.endpoints, self.client, self.directory, now=now)
        self.memberships = Memberships(self.endpoints, self.client)
        feed = target.endpoints.completions_list
        self.completions = CompletionsPull(
            self.endpoints,
            since_param=feed.since_param if feed is not None else None,
            budget=self.pull_budget(),
            start=context.pull.start_date,
            overlap=context.pull.overlap,
        )

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

    def execute(self, ops: Sequence[Operation]) -> list[Outcome]:
        return [self._execute(op) for op in ops]

    def poll_job(self, job_id: str, ops: Sequence[Operation]) -> list[Outcome] | None:
        """Learning Pool writes answer at once; an unknown job leaves its operations to resend."""
        reason = f"Learning Pool has no asynchronous jobs (job {job_id!r} is unknown)"
        return [Outcome(op, OutcomeStatus.RETRY, error=reason) for op in ops]

    def pull(self, cursor: Mapping[str, Any] | None) -> Iterator[PullPage]:
        """At most ``pull_budget()`` pages of the completions feed. With the default 60 a
        minute (54 after the safety margin) and a share of 0.5, a cycle reads 27 pages of
        100 completions; a larger backlog takes several cycles."""
        self.endpoints.get("completions_list")  # EndpointMissing names the key to set
        return self.completions.pages(cursor)

    # --- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _natural_key(users: Sequence[DesiredUser]) -> str:
        """The HR id when the mapping sends one, else the username (unique per platform)."""
        if any(fields.text(user.fields.get("external_id")) for user in users):
            return "external_id"
        return "username"

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
