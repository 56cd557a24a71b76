"""Accounts: create, update, deactivate and reactivate, one call each.

Deactivation follows ``target.deactivation`` (``activity``): by default of nothing,
since Learning Pool's API does not say; its help centre recommends an expiry date.

What the platform answers is settled against what it holds, never by a status code
alone (SPEC §9):

- a create refused because a unique field or the HR id is taken is adopted when the
  account holding it is this very person (same HR id, ``target.records.user.hr_id``,
  or the same value in every ``unique`` field when no HR id is mapped), which is also
  what happens to a create whose answer was lost;
- a deactivation or reactivation refused, answered 404, or sent again after a lost
  answer reads the account back first (``user_get``, else the filtered listing):
  already so is done, and a 404 for an account that exists is a failure that
  points at the endpoint's path.

Deactivation and reactivation are sent as their configured method says: a POST is
not resent blindly by the client, so a lost answer comes back as UNKNOWN and the
next attempt reads before it writes.
"""

from __future__ import annotations

from typing import Any

import httpx
import structlog

from syncd.config.schema.targets import LearningPoolRecords
from syncd.http import OutcomeUnknown, VendorClient
from syncd.limits import Priority
from syncd.model import Operation, Outcome, OutcomeStatus
from syncd.vendors.learningpool.activity import Activity
from syncd.vendors.learningpool.api import Refusal, record_of, refusal
from syncd.vendors.learningpool.directory import Account, Directory, record_id
from syncd.vendors.learningpool.endpoints import EndpointMissing, Endpoints
from syncd.vendors.learningpool.fields import create_body, problems, same, text, update_body

log = structlog.get_logger(__name__)

REFUSALS = frozenset({400, 403, 404, 409, 422})
"""Answers read here rather than raised: each is a reason for this record."""

_TAKEN = ("taken", "already", "exists", "in use", "duplicate")


def done(op: Operation, remote_id: str | None = None, **extra: Any) -> Outcome:
    return Outcome(op, OutcomeStatus.DONE, remote_id=remote_id or op.remote_id, **extra)


def failed(op: Operation, reason: str) -> Outcome:
    return Outcome(op, OutcomeStatus.FAILED, error=reason)


def user_ids(op: Operation) -> dict[str, Any]:
    return {"user_id": op.remote_id, "hr_key": op.hr_key}


class UserWriter:
    """One call per account operation; answers become outcomes."""

    def __init__(
        self,
        endpoints: Endpoints,
        client: VendorClient,
        directory: Directory,
        activity: Activity,
        records: LearningPoolRecords,
    ) -> None:
        self._endpoints = endpoints
        self._client = client
        self._directory = directory
        self._activity = activity
        self._envelope = records.wrapper
        if records.user is None:  # config check names it; the adapter refuses to start
            raise EndpointMissing("records.user", "target.records.user is not configured")
        self._rules = records.user

    def _refusal(self, response: httpx.Response) -> Refusal:
        return refusal(response, self._client.secrets())

    # --- create -----------------------------------------------------------------------------

    def create(self, op: Operation) -> Outcome:
        reasons = problems(op.fields, self._rules, self._activity.owned_field)
        if reasons:
            return failed(op, "; ".join(reasons))
        try:
            response = self._endpoints.call(
                "user_create",
                ids={"hr_key": op.hr_key},
                body=create_body(op.fields, self._rules),
                idempotent=False,
                accept=REFUSALS,
            )
        except OutcomeUnknown as error:
            return Outcome(op, OutcomeStatus.UNKNOWN, error=str(error))
        if response.status_code in REFUSALS:
            refused = self._refusal(response)
            if any(refused.mentions(f, *_TAKEN) for f in self._rules.keys):
                return self._settle_conflict(op, refused)
            return failed(op, f"Learning Pool refused the account: {refused.reason}")
        created = record_of(response, "POST user_create", self._envelope)
        remote_id = record_id(created, self._rules.id)
        if not remote_id:
            remote_id = _id_from_location(response)
        if not remote_id:
            return Outcome(
                op,
                OutcomeStatus.UNKNOWN,
                error="Learning Pool confirmed the create without an account id; "
                "it is looked up before anything is sent again",
            )
        return done(op, remote_id)

    def _settle_conflict(self, op: Operation, refused: Refusal) -> Outcome:
        """A taken username or HR id: adopt the account when it is this person's own."""
        if not self._directory.available:
            return failed(
                op,
                f"Learning Pool refused the account: {refused.reason}; configure "
                "target.endpoints.users_list so syncd can find the account that holds it",
            )
        account = None
        for field in self._rules.keys:
            value = text(op.fields.get(field))
            if value:
                account = self._directory.lookup(field, value, Priority.WRITE)
                if account is not None:
                    break
        if account is not None and self._is_own(account, op):
            log.info("learningpool_create_adopted", hr_key=op.hr_key, remote_id=account.id)
            if account.active is False:
                return self._reactivate_adopted(op, account)
            return done(op, account.id)
        held_by = f"; account {account.id} holds it and is not this person" if account else ""
        return failed(op, f"Learning Pool refused the account: {refused.reason}{held_by}")

    def _is_own(self, account: Account, op: Operation) -> bool:
        hr_id = self._rules.hr_id
        ours = text(op.fields.get(hr_id)) if hr_id else ""
        if hr_id and ours:
            return same(account.record.get(hr_id), ours)
        return all(
            same(account.record.get(field), op.fields.get(field)) for field in self._rules.unique
        )

    def _reactivate_adopted(self, op: Operation, account: Account) -> Outcome:
        adopted = Operation(op.kind, op.hr_key, account.id, op.fields, op.changed, op.target)
        outcome = self.reactivate(adopted)
        if outcome.status is OutcomeStatus.DONE:
            return done(op, account.id)
        return Outcome(op, outcome.status, error=outcome.error)

    # --- update -----------------------------------------------------------------------------

    def update(self, op: Operation) -> Outcome:
        reasons = problems(op.fields, self._rules, self._activity.owned_field)
        if reasons:
            return failed(op, "; ".join(reasons))
        body = update_body(op.fields, op.changed, self._rules)
        if not body:
            return done(op)
        response = self._endpoints.call(
            "user_update", ids=user_ids(op), body=body, idempotent=True, accept=REFUSALS
        )
        if response.status_code == 404:
            return failed(op, self._gone(op))
        if response.status_code in REFUSALS:
            return failed(op, f"Learning Pool refused the update: {self._refusal(response).reason}")
        return done(op)

    # --- deactivate and reactivate ----------------------------------------------------------

    def deactivate(self, op: Operation) -> Outcome:
        return self._switch(op, active=False)

    def reactivate(self, op: Operation) -> Outcome:
        return self._switch(op, active=True)

    def _switch(self, op: Operation, *, active: bool) -> Outcome:
        """Deactivate or reactivate; a resend, a refusal or a 404 is settled by reading back.

        Sent again (a lost answer, a crash), the account is read first and nothing is sent
        when it is already so. A refusal or a 404 is never taken at its word: the account
        is read, and "already so" is done, "gone" is done (with a warning) for a
        deactivation, and anything else fails with the platform's reason.
        """
        verb = "reactivation" if active else "deactivation"
        name = "user_reactivate" if active else "user_deactivate"
        body = self._activity.reactivate_body() if active else self._activity.deactivate_body()
        if op.attempts > 1:
            settled = self._already(op, active=active, reason=None)
            if settled is not None:
                return settled
        response = self._endpoints.call(
            name,
            ids=user_ids(op),
            body=body,
            priority=Priority.WRITE if active else Priority.DEPROVISION,
            accept=REFUSALS,
        )
        if response.status_code in REFUSALS:
            reason = f"Learning Pool refused the {verb}: {self._refusal(response).reason}"
            settled = self._already(op, active=active, reason=reason)
            if settled is None and response.status_code == 404:
                reason += f"; account {op.remote_id} exists, so check target.endpoints.{name}.path"
            return settled or failed(op, reason)
        if self._activity.holds(record_of(response, name, self._envelope), active) is False:
            return failed(
                op,
                f"Learning Pool accepted the {verb} but the account it answered with is still "
                f"{'inactive' if active else 'active'} by {self._activity.describe()}; check "
                f"target.endpoints.{name} and target.deactivation",
            )
        return done(op)

    def _already(self, op: Operation, *, active: bool, reason: str | None) -> Outcome | None:
        """Done when a fresh read shows the account already so; None to send (or fail)."""
        try:
            account = self._directory.fresh(str(op.remote_id), self._keys(op))
        except EndpointMissing as missing:
            if reason is None:
                return None  # nothing to read with: send, the answer decides
            detail = f"{reason}; syncd cannot read the account back to settle it: {missing}"
            return failed(op, detail)
        if account is None:
            gone = self._gone(op)
            if active:
                return failed(op, f"{gone}, so it cannot be reactivated")
            return done(op, warnings=[f"{gone}: there was nothing to deactivate"])
        if self._activity.holds(account.record, active):
            log.info("learningpool_already_so", hr_key=op.hr_key, active=active, resend=not reason)
            return done(op)
        return None

    def _keys(self, op: Operation) -> dict[str, Any]:
        """What finds the account in a filtered listing: the HR id, then the unique fields."""
        return {name: op.fields[name] for name in self._rules.keys if op.fields.get(name)}

    @staticmethod
    def _gone(op: Operation) -> str:
        return f"Learning Pool account {op.remote_id} no longer exists (was it removed there?)"


def _id_from_location(response: httpx.Response) -> str:
    """The id at the end of a ``Location`` header (``.../users/10001``), if it is numeric."""
    tail = response.headers.get("location", "").rstrip("/").rsplit("/", 1)[-1]
    return tail if tail.isdigit() else ""
