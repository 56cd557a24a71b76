"""Account writes: create, partial update, deactivate and reactivate (digest §5, U3-U6).

- CREATE: ``POST /users`` with ``{"userProfileData": [{"Key","Value"}…],
  "sendRegistrationMail": …}``; the new id comes from ``Location`` (201). The POST is
  not idempotent and iLMS documents no duplicate check (Q51), so when its answer is
  lost the account is first looked up by the match field, and only sent again when it
  is not there.
- UPDATE: ``PUT /users/{id}`` with a bare key/value array of the *changed* fields only
  (iLMS keeps the rest, L464), the region/division/department triple always whole.
- DEACTIVATE / REACTIVATE: ``DELETE`` / ``PUT /users/{id}/Activate``. Deletion is never
  used: the adapter declares iLMS without it, so ``on_missing: delete`` is a
  configuration error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import structlog

from syncd.http import OutcomeUnknown
from syncd.limits import Priority
from syncd.model import Operation, Outcome, OutcomeStatus
from syncd.vendors.ilms.api import USER, USER_ACTIVATE, USERS, Answer, ILMSApi, created_id
from syncd.vendors.ilms.directory import Directory
from syncd.vendors.ilms.fields import (
    code_of,
    create_codes,
    match_of,
    pairs,
    to_codes,
    update_codes,
)

log = structlog.get_logger(__name__)


class UserWriter:
    def __init__(
        self,
        api: ILMSApi,
        directory: Directory,
        *,
        match_codes: tuple[str, ...],
        send_registration_mail: bool,
        problems: Callable[[Mapping[str, Any]], list[str]],
    ) -> None:
        self._api = api
        self._directory = directory
        self._match_codes = match_codes
        self._send_mail = send_registration_mail
        self._problems = problems  # the validator's reasons, checked again before sending

    # --- create ----------------------------------------------------------------------------------

    def create(self, op: Operation) -> Outcome:
        refused = self._refused(op)
        if refused is not None:
            return refused
        coded = to_codes(op.fields)
        body: dict[str, Any] = {
            "userProfileData": pairs(coded, create_codes(coded)),
            "sendRegistrationMail": self._send_mail,
        }
        try:
            answer = self._post_user(body)
        except OutcomeUnknown as lost:
            return self._recover_create(op, body, str(lost))
        return self._created(op, answer)

    def _post_user(self, body: dict[str, Any]) -> Answer:
        return self._api.send("POST", USERS, json_body=body, priority=Priority.WRITE)

    def _created(self, op: Operation, answer: Answer) -> Outcome:
        if not answer.ok:
            return _refused_by_ilms(op, "create the account", answer)
        new_id = created_id(answer.response)
        if new_id is None:
            lookup = self._lookup(op)
            if lookup is not None:
                return Outcome(op, OutcomeStatus.DONE, remote_id=lookup)
            return Outcome(
                op,
                OutcomeStatus.UNKNOWN,
                error=f"iLMS answered HTTP {answer.status} to the create without the new id; "
                "the account is looked up before anything is sent again",
            )
        return Outcome(op, OutcomeStatus.DONE, remote_id=new_id)

    def _recover_create(self, op: Operation, body: dict[str, Any], why: str) -> Outcome:
        """Q51: after a lost answer, search by the match field before sending again (once)."""
        found = self._lookup(op)
        if found is not None:
            log.info("ilms_create_recovered", hr_key=op.hr_key, remote_id=found)
            return Outcome(op, OutcomeStatus.DONE, remote_id=found)
        if match_of(op.fields, self._match_codes) is None:
            return Outcome(op, OutcomeStatus.UNKNOWN, error=why)
        try:
            answer = self._post_user(body)
        except OutcomeUnknown as again:
            return Outcome(op, OutcomeStatus.UNKNOWN, error=str(again))
        return self._created(op, answer)

    def _lookup(self, op: Operation) -> str | None:
        found = match_of(op.fields, self._match_codes)
        if found is None:
            return None
        account = self._directory.search(*found)
        return account.id if account is not None else None

    # --- update ----------------------------------------------------------------------------------

    def update(self, op: Operation) -> Outcome:
        refused = self._refused(op)
        if refused is not None:
            return refused
        coded = to_codes(op.fields)
        changed = {code for name in op.changed if (code := code_of(name)) is not None}
        codes = update_codes(coded, changed)
        if not codes:
            return Outcome(op, OutcomeStatus.DONE, remote_id=op.remote_id)
        answer = self._api.send(
            "PUT",
            USER,
            path_params={"user_id": op.remote_id},
            json_body=pairs(coded, codes),
            priority=Priority.WRITE,
        )
        if answer.status == 404:
            return _gone(op, "update")
        if not answer.ok:
            return _refused_by_ilms(op, "update the account", answer)
        return Outcome(op, OutcomeStatus.DONE, remote_id=op.remote_id)

    # --- activation ------------------------------------------------------------------------------

    def deactivate(self, op: Operation) -> Outcome:
        answer = self._api.send(
            "DELETE",
            USER_ACTIVATE,
            path_params={"user_id": op.remote_id},
            priority=Priority.DEPROVISION,
        )
        if answer.status == 404:
            return Outcome(
                op,
                OutcomeStatus.DONE,
                remote_id=op.remote_id,
                warnings=[
                    f"iLMS has no active account {op.remote_id} (deleted in iLMS?): "
                    "there was nothing to deactivate"
                ],
            )
        if not answer.ok:
            return _refused_by_ilms(op, "deactivate the account", answer)
        return Outcome(op, OutcomeStatus.DONE, remote_id=op.remote_id)

    def reactivate(self, op: Operation) -> Outcome:
        """The rehire's own account comes back; the UPDATE after it restores changed fields."""
        answer = self._api.send(
            "PUT", USER_ACTIVATE, path_params={"user_id": op.remote_id}, priority=Priority.WRITE
        )
        if answer.status == 404:
            return _gone(op, "reactivate")
        if not answer.ok:
            return _refused_by_ilms(op, "reactivate the account", answer)
        return Outcome(op, OutcomeStatus.DONE, remote_id=op.remote_id)

    # --- helpers ---------------------------------------------------------------------------------

    def _refused(self, op: Operation) -> Outcome | None:
        """Operations recorded by an older configuration are checked again: never sent invalid."""
        problems = self._problems(op.fields)
        if problems:
            return Outcome(op, OutcomeStatus.FAILED, error="; ".join(problems))
        return None


def _refused_by_ilms(op: Operation, action: str, answer: Answer) -> Outcome:
    return Outcome(
        op,
        OutcomeStatus.FAILED,
        error=f"iLMS refused to {action} (HTTP {answer.status}): {answer.message}",
    )


def _gone(op: Operation, action: str) -> Outcome:
    return Outcome(
        op,
        OutcomeStatus.FAILED,
        error=(
            f"iLMS account {op.remote_id} no longer exists or was deleted in iLMS, so syncd "
            f"cannot {action} it; deleted accounts cannot be restored through the API"
        ),
    )
