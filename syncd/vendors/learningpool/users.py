"""Accounts: create, update, deactivate and reactivate, one call each.

Deactivation is an expiry date, as Learning Pool recommends (help centre,
"Expiration vs Deletion": the account cannot sign in, keeps its data and
enrolments, stops counting as a seat, and can be reactivated). The deactivate
call carries ``{"expires_at": <a minute ago>}`` and the reactivate call
``{"expires_at": null}``, so the same code works whether the configured
endpoint is a dedicated action or a plain update of the user. A minute ago, not
now: a platform whose clock runs a little behind ours must already see the
account expired.

A create refused because its username or HR id is taken is settled, not just
failed: when the account holding it is this very person (same ``external_id``,
or same username and email when no HR id is mapped) it is adopted, which is also
what happens to a create whose first answer was lost.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import structlog

from syncd.http import OutcomeUnknown, VendorClient
from syncd.limits import Priority
from syncd.model import Operation, Outcome, OutcomeStatus, iso_utc
from syncd.vendors.learningpool.api import Refusal, record_of, refusal
from syncd.vendors.learningpool.directory import Account, Directory
from syncd.vendors.learningpool.endpoints import Endpoints
from syncd.vendors.learningpool.fields import (
    EXPIRY,
    create_body,
    problems,
    same,
    text,
    update_body,
)

log = structlog.get_logger(__name__)

REFUSALS = frozenset({400, 403, 404, 409, 422})
"""Answers read here rather than raised: each is a reason for this record."""

EXPIRY_LEAD = timedelta(minutes=1)
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
        *,
        now: Callable[[], datetime],
    ) -> None:
        self._endpoints = endpoints
        self._client = client
        self._directory = directory
        self._now = now

    def _refusal(self, response: httpx.Response) -> Refusal:
        return refusal(response, self._client.secrets())

    # --- create -----------------------------------------------------------------------------

    def create(self, op: Operation) -> Outcome:
        reasons = problems(op.fields)
        if reasons:
            return failed(op, "; ".join(reasons))
        try:
            response = self._endpoints.call(
                "user_create",
                ids={"hr_key": op.hr_key},
                body=create_body(op.fields),
                idempotent=False,
                accept=REFUSALS,
            )
        except OutcomeUnknown as error:
            return Outcome(op, OutcomeStatus.UNKNOWN, error=str(error))
        if response.status_code in REFUSALS:
            refused = self._refusal(response)
            if any(refused.mentions(f, *_TAKEN) for f in ("username", "external_id", "email")):
                return self._settle_conflict(op, refused)
            return failed(op, f"Learning Pool refused the account: {refused.reason}")
        remote_id = text(record_of(response, "POST user_create").get("id"))
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
        for field in ("external_id", "username"):
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

    @staticmethod
    def _is_own(account: Account, op: Operation) -> bool:
        ours = text(op.fields.get("external_id"))
        if ours:
            return same(account.record.get("external_id"), ours)
        return all(
            same(account.record.get(field), op.fields.get(field)) for field in ("username", "email")
        )

    def _reactivate_adopted(self, op: Operation, account: Account) -> Outcome:
        adopted = Operation(op.kind, op.hr_key, account.id, op.fields, op.changed, op.target)
        outcome = self.reactivate(adopted)
        if outcome.status is OutcomeStatus.DONE:
            return done(op, account.id)
        return Outcome(op, outcome.status, error=outcome.error)

    # --- update -----------------------------------------------------------------------------

    def update(self, op: Operation) -> Outcome:
        reasons = problems(op.fields)
        if reasons:
            return failed(op, "; ".join(reasons))
        body = update_body(op.fields, op.changed)
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
        expires = iso_utc(self._now() - EXPIRY_LEAD)
        response = self._endpoints.call(
            "user_deactivate",
            ids=user_ids(op),
            body={EXPIRY: expires},
            priority=Priority.DEPROVISION,
            idempotent=True,
            accept=REFUSALS,
        )
        if response.status_code == 404:
            return done(op, warnings=[f"{self._gone(op)}: there was nothing to deactivate"])
        if response.status_code in REFUSALS:
            reason = self._refusal(response).reason
            return failed(op, f"Learning Pool refused the deactivation: {reason}")
        record = record_of(response, "user_deactivate")
        if record and record.get(EXPIRY) is None and text(record.get("status")) == "active":
            return failed(
                op,
                "Learning Pool accepted the deactivation but the account has no expiry date; "
                "check that target.endpoints.user_deactivate sets expires_at",
            )
        return done(op)

    def reactivate(self, op: Operation) -> Outcome:
        response = self._endpoints.call(
            "user_reactivate",
            ids=user_ids(op),
            body={EXPIRY: None},
            idempotent=True,
            accept=REFUSALS,
        )
        if response.status_code == 404:
            return failed(op, f"{self._gone(op)}, so it cannot be reactivated")
        if response.status_code in REFUSALS:
            reason = self._refusal(response).reason
            return failed(op, f"Learning Pool refused the reactivation: {reason}")
        record = record_of(response, "user_reactivate")
        if record and text(record.get("status")) == "expired":
            return failed(
                op,
                "Learning Pool accepted the reactivation but the account is still expired; "
                "check that target.endpoints.user_reactivate clears expires_at",
            )
        return done(op)

    @staticmethod
    def _gone(op: Operation) -> str:
        return f"Learning Pool account {op.remote_id} no longer exists (was it removed there?)"


def _id_from_location(response: httpx.Response) -> str:
    """The id at the end of a ``Location`` header (``.../users/10001``), if it is numeric."""
    tail = response.headers.get("location", "").rstrip("/").rsplit("/", 1)[-1]
    return tail if tail.isdigit() else ""
