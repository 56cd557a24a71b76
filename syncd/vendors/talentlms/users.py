"""Accounts: create, update, deactivate, reactivate and delete, singly or through ``/batch/users``.

Several creates or updates go through ``/batch/users`` (up to 100 a call, custom
fields included): the answer is a task, so the outcomes are PENDING with the
task id, and ``task_outcomes`` turns the finished task into per-person outcomes
by reading the accounts back (``readback``): the task never says which items it
applied. The vendor never returns the ids of accounts a batch created; they are
learned from the listing (see ``directory``). One change without custom fields
uses the single-account endpoints, which answer at once. Custom fields can only be
written through the batch endpoint, so a single change carrying one goes there.

A task that failed, or that TalentLMS no longer knows (404), leaves what it did not
visibly apply pending: creates are looked up before being sent again (UNKNOWN),
updates are sent again (RETRY). Only a task that completed turns an item not
applied into a failure naming its fields.

New accounts get a password (the single create requires one): the mapping's
``password`` if it has one, else a random one from ``secrets``. It is sent on the
create only, never stored (the engine strips write-only fields) and never logged.
"""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Mapping, Sequence
from typing import Any

import structlog

from syncd.http import OutcomeUnknown, RecordRejected, VendorClient, vendor_message
from syncd.limits import Priority
from syncd.logs import Redactor
from syncd.model import Operation, OpKind, Outcome, OutcomeStatus
from syncd.vendors.talentlms.api import BATCH_USERS, USER, USERS, data_of, is_not_found
from syncd.vendors.talentlms.compare import LISTED, WRITE_ONLY, differences
from syncd.vendors.talentlms.directory import Account, Directory, norm
from syncd.vendors.talentlms.fields import is_custom, preview, wire_fields
from syncd.vendors.talentlms.readback import account_fields, not_applied, read_account, unfinished
from syncd.vendors.talentlms.status import StatusForms
from syncd.vendors.talentlms.tasks import Task, ordered

log = structlog.get_logger(__name__)

_SYMBOLS = "!@#$%^&*-_=+?"
_ALPHABET = string.ascii_letters + string.digits + _SYMBOLS
_ALREADY = ("already exists", "already taken", "already in use", "already used", "already been")


def generate_password(length: int) -> str:
    """A random password with every character class (the portal's policy is not documented)."""
    length = max(length, 8)
    while True:
        password = "".join(secrets.choice(_ALPHABET) for _ in range(length))
        if (
            any(c.islower() for c in password)
            and any(c.isupper() for c in password)
            and any(c.isdigit() for c in password)
            and any(c in _SYMBOLS for c in password)
        ):
            return password


def already_exists(messages: str | Sequence[str]) -> bool:
    texts = [messages] if isinstance(messages, str) else list(messages)
    return any(word in text.lower() for text in texts for word in _ALREADY)


def _done(op: Operation, remote_id: str | None = None, **extra: Any) -> Outcome:
    return Outcome(op, OutcomeStatus.DONE, remote_id=remote_id or op.remote_id, **extra)


def _failed(op: Operation, reason: str) -> Outcome:
    return Outcome(op, OutcomeStatus.FAILED, error=reason)


def _has_custom(body: Mapping[str, Any]) -> bool:
    return any(is_custom(name) for name in body)


class UserWriter:
    """Account writes and the outcomes of ``/batch/users`` tasks."""

    def __init__(
        self,
        client: VendorClient,
        directory: Directory,
        *,
        match_field: str,
        password_length: int,
        clock: Any = time.monotonic,
    ) -> None:
        self._client = client
        self._directory = directory
        self._match = match_field
        self._password_length = password_length
        self._clock = clock
        self.status = StatusForms()
        self._submitted: dict[str, float] = {}  # task id -> when it was submitted (monotonic)

    # --- creates ------------------------------------------------------------------------------

    def create(self, ops: Sequence[Operation]) -> list[Outcome]:
        if len(ops) == 1 and not _has_custom(ops[0].fields):
            return [self._create_one(ops[0])]
        return self._submit(ops, creating=True)

    def _new_account_body(self, op: Operation) -> dict[str, Any]:
        body = wire_fields(op.fields)
        if not body.get("password"):
            body["password"] = generate_password(self._password_length)
        return body

    def _create_one(self, op: Operation) -> Outcome:
        """One account through the single create; its password never in the outcome's text.

        TalentLMS may echo the request in a refusal, and a generated password is in no
        operation, so the engine cannot mask it: it is masked here.
        """
        body = self._new_account_body(op)
        outcome = self._post_account(op, body)
        if outcome.error:
            outcome.error = Redactor([body["password"]], min_length=1).redact_text(outcome.error)
        return outcome

    def _post_account(self, op: Operation, body: dict[str, Any]) -> Outcome:
        try:
            response = self._client.post(USERS, json=body, idempotent=False)
        except OutcomeUnknown as error:
            return Outcome(op, OutcomeStatus.UNKNOWN, error=str(error))
        except RecordRejected as error:
            if already_exists(error.message):
                return self._settle_conflict(op, error.message)
            return _failed(op, f"TalentLMS refused the account: {error.message}")
        if response.status_code == 409:
            message, _ = vendor_message(response, self._client.secrets())
            return self._settle_conflict(op, message)
        data = data_of(response, "POST /users")
        remote_id = data.get("id") if isinstance(data, Mapping) else None
        if remote_id is None or isinstance(remote_id, bool):
            return Outcome(
                op,
                OutcomeStatus.UNKNOWN,
                error="TalentLMS confirmed the create without an account id; "
                "it is looked up before anything is sent again",
            )
        if self._directory.total is not None:
            self._directory.total += 1
        return _done(op, str(remote_id))

    def _settle_conflict(self, op: Operation, message: str) -> Outcome:
        """An "already exists" refusal: adopt our own lost create, else say exactly why not."""
        field = self._match
        value = op.fields.get(field)
        account = self._directory.lookup(field, value, Priority.WRITE) if value else None
        if account is not None and account.same_person(op.fields):
            log.info("talentlms_create_adopted", hr_key=op.hr_key, remote_id=account.id)
            return _done(op, account.id)
        if account is not None:
            return _failed(
                op,
                f"TalentLMS already has an account with this {field} (id {account.id}) that "
                "syncd did not create and whose details differ; run `syncd retry` to adopt it",
            )
        return _failed(
            op,
            f"TalentLMS refused the account: {message} (another TalentLMS account uses it; "
            f"accounts are matched by {field}, so change the HR record or that account)",
        )

    # --- updates ------------------------------------------------------------------------------

    def update(self, ops: Sequence[Operation]) -> list[Outcome]:
        if len(ops) == 1:
            op = ops[0]
            body = wire_fields(op.fields, op.changed)
            if not _has_custom(body):
                return [self._patch(op, body, active=True, verify=False, priority=Priority.WRITE)]
        return self._submit(ops, creating=False)

    def set_active(self, ops: Sequence[Operation], active: bool) -> list[Outcome]:
        priority = Priority.WRITE if active else Priority.DEPROVISION
        return [self._patch(op, {}, active=active, verify=True, priority=priority) for op in ops]

    def _patch(
        self,
        op: Operation,
        fields: Mapping[str, Any],
        *,
        active: bool,
        verify: bool,
        priority: Priority,
    ) -> Outcome:
        """``PATCH /users/:id`` with the changed fields and the (required) status."""
        while True:
            body = {**fields, **self.status.body(active)}
            try:
                response = self._client.patch(
                    USER,
                    path_params={"id": op.remote_id},
                    json=body,
                    idempotent=True,
                    priority=priority,
                )
            except RecordRejected as error:
                if StatusForms.refused(error) and self.status.can_fall_back():
                    self.status.fall_back(error.message)
                    continue
                if error.status == 404 and is_not_found(error.code, "user"):
                    return self._gone(op)
                return _failed(op, f"TalentLMS refused the {op.kind.value}: {error.message}")
            if response.status_code == 409:
                message, _ = vendor_message(response, self._client.secrets())
                return _failed(op, f"TalentLMS refused the {op.kind.value}: {message}")
            if verify and active not in self.status.verified:
                actual = self._read_active(op)
                if actual is not None and actual != active:
                    if self.status.can_fall_back():
                        self.status.fall_back("the account kept its status")
                        continue
                    state = "active" if actual else "inactive"
                    return _failed(
                        op,
                        f"TalentLMS accepted the {op.kind.value} but the account is still {state}",
                    )
                if actual is not None:
                    self.status.verified.add(active)
            return _done(op)

    def _read_active(self, op: Operation) -> bool | None:
        response = self._client.get(
            USER, path_params={"id": op.remote_id}, priority=Priority.WRITE, accept={404}
        )
        if response.status_code == 404:
            return None
        data = data_of(response, "GET /users/{id}")
        status = data.get("status") if isinstance(data, Mapping) else None
        return None if not isinstance(status, str) else status.strip().lower() == "active"

    def _gone(self, op: Operation) -> Outcome:
        if op.kind is OpKind.DEACTIVATE:
            return _done(
                op,
                warnings=[
                    f"TalentLMS account {op.remote_id} no longer exists; there was nothing to "
                    "deactivate"
                ],
            )
        return _failed(
            op,
            f"TalentLMS account {op.remote_id} no longer exists (was it deleted in TalentLMS?)",
        )

    def delete(self, ops: Sequence[Operation]) -> list[Outcome]:
        outcomes = []
        for op in ops:
            try:
                self._client.delete(
                    USER,
                    path_params={"id": op.remote_id},
                    priority=Priority.DEPROVISION,
                    accept={404},
                )
            except RecordRejected as error:
                outcomes.append(_failed(op, f"TalentLMS refused the delete: {error.message}"))
                continue
            outcomes.append(_done(op))  # 404: already gone, which is what was asked
        return outcomes

    # --- batches --------------------------------------------------------------------------------

    def _submit(self, ops: Sequence[Operation], *, creating: bool) -> list[Outcome]:
        order = ordered(ops)
        items = [
            self._new_account_body(op)
            if creating
            else {"id": int(str(op.remote_id)), **wire_fields(op.fields, op.changed)}
            for op in order
        ]
        noun = "accounts" if creating else "updates"
        try:
            response = self._client.post(
                BATCH_USERS, json={"users": items}, idempotent=not creating
            )
        except OutcomeUnknown as error:
            return [Outcome(op, OutcomeStatus.UNKNOWN, error=str(error)) for op in ops]
        except RecordRejected as error:
            reason = f"TalentLMS refused the whole batch of {len(ops)} {noun}: {error.message}"
            return [_failed(op, reason) for op in ops]
        data = data_of(response, "POST /batch/users")
        task_id = data.get("id") if isinstance(data, Mapping) else None
        if response.status_code == 409 or not isinstance(task_id, str | int) or not task_id:
            reason = (
                "TalentLMS answered the batch without a task id; what it applied is looked up "
                "before anything is sent again"
            )
            return [Outcome(op, OutcomeStatus.UNKNOWN, error=reason) for op in ops]
        task_id = str(task_id)
        self._submitted[task_id] = self._clock()
        if creating:
            self._directory.note_submitted(len(items))
        log.info(
            "talentlms_task_submitted", task_id=task_id, endpoint="batch/users", items=len(items)
        )
        return [Outcome(op, OutcomeStatus.PENDING, job_id=task_id) for op in ops]

    def listed_outcomes(self, task_id: str, ops: Sequence[Operation]) -> list[Outcome] | None:
        """Outcomes of a create task whose every account a listing already showed, else None.

        Learning the ids of one task's accounts reads the listing backwards from its
        end, past the accounts of the tasks submitted after it: when those show up
        too, their tasks need no poll. An account read after the task was submitted
        with exactly the login, email, name and surname sent is this create. Tasks
        submitted before this adapter existed (a resumed cycle) are always polled.
        """
        since = self._submitted.get(task_id)
        if since is None or not ops or ops[0].kind is not OpKind.CREATE:
            return None
        found: dict[int, str] = {}
        for op in ops:
            account = self._directory.cached("email", op.fields.get("email"), since)
            if account is None or not account.same_person(op.fields):
                return None
            found[id(op)] = account.id
        del self._submitted[task_id]
        self._directory.note_resolved(len(ops))
        log.info("talentlms_task_settled_by_listing", task_id=task_id, accounts=len(ops))
        return [_done(op, found[id(op)]) for op in ops]

    def task_outcomes(self, task: Task, ops: Sequence[Operation]) -> list[Outcome]:
        """Per-person outcomes of a finished ``/batch/users`` task, in the order of ``ops``."""
        order = ordered(ops)
        if order and order[0].kind is OpKind.CREATE:
            decided = self._created(task, order)
        else:
            decided = self._updated(task, order)
        self._submitted.pop(task.id, None)
        return [decided[id(op)] for op in ops]

    def _created(self, task: Task, order: list[Operation]) -> dict[int, Outcome]:
        since = self._submitted.get(task.id, 0.0)
        read_from = since or self._clock()  # a resumed task's: what this read-back reads
        accounts = self._directory.find_created([op.fields.get("email") for op in order], since)
        decided = {
            id(op): self._create_outcome(
                task, index, op, accounts.get(norm(op.fields.get("email"))), read_from
            )
            for index, op in enumerate(order)
        }
        self._directory.note_resolved(len(order))
        return decided

    def _create_outcome(
        self, task: Task, index: int, op: Operation, account: Account | None, read_from: float
    ) -> Outcome:
        """The account read back with this email (after the task was sent) decides."""
        email = op.fields.get("email")
        if account is not None and norm(account.login) != norm(op.fields.get("login")):
            return _failed(
                op,
                f"TalentLMS did not apply it (batch task {task.id}): no account was created. "
                f"Email already exists: account {account.id} (login {preview(account.login)}) "
                f"has it; accounts are matched by {self._match}, so change the HR record or "
                "that account" + task.detail(index, email=email),
            )
        if account is not None:
            found = differences(_sent(op.fields), account.listed(), whole_account=False)
            if not found:
                return _done(op, account.id)
            return _failed(
                op,
                f"{not_applied(task, found)} (account {account.id} has this email and login)"
                + task.detail(index, email=email),
            )
        if not task.completed:
            return Outcome(
                op,
                OutcomeStatus.UNKNOWN,
                error=f"{unfinished(task)} before this account was created; it is looked up "
                "before being sent again",
            )
        sent = ", ".join(_sent(op.fields))
        return _failed(
            op,
            f"TalentLMS did not apply it (batch task {task.id}): no account was created "
            f"({sent} not applied){self._login_holder(op, read_from)}"
            + task.detail(index, email=email),
        )

    def _login_holder(self, op: Operation, read_from: float) -> str:
        """Why a create may have been refused: another account holds its login. Only an
        account read since ``read_from`` (the task's submission) is named without a lookup:
        one remembered from before may have given the login up since."""
        login = op.fields.get("login")
        if not norm(login):
            return ""
        holder = self._directory.cached("login", login, read_from) or self._directory.lookup(
            "login", login, Priority.WRITE
        )
        if holder is None:
            return ""
        return f". Login already exists: account {holder.id} (email {preview(holder.email)}) has it"

    def _updated(self, task: Task, order: list[Operation]) -> dict[int, Outcome]:
        sent = {id(op): wire_fields(op.fields, op.changed) for op in order}
        shown = self._read_back(order, sent)
        decided: dict[int, Outcome] = {}
        for index, op in enumerate(order):
            read = shown.get(id(op))
            if read is None:
                decided[id(op)] = self._gone(op)
                continue
            fields, whole = read
            found = differences(sent[id(op)], fields, whole_account=whole)
            if not found:
                decided[id(op)] = _done(op)
            elif task.completed:
                decided[id(op)] = _failed(op, not_applied(task, found) + task.detail(index))
            else:
                decided[id(op)] = Outcome(
                    op,
                    OutcomeStatus.RETRY,
                    error=f"{unfinished(task)} before applying this update; it is sent again "
                    "next cycle",
                )
        return decided

    def _read_back(
        self, order: list[Operation], sent: Mapping[int, Mapping[str, Any]]
    ) -> dict[int, tuple[dict[str, Any], bool]]:
        """Each updated account as read now (and whether the read shows every field).

        Updates of listed fields only are read from the whole listing when it has
        fewer pages than there are of them; every other one with ``GET /users/:id``.
        An account that no longer exists has no entry.
        """
        listed = [op for op in order if set(sent[id(op)]) - WRITE_ONLY <= set(LISTED)]
        pages = self._directory.pages()
        shown: dict[int, tuple[dict[str, Any], bool]] = {}
        if pages is not None and pages < len(listed):
            began = self._directory.read_all(Priority.WRITE)
            for op in listed:
                account = self._directory.cached_id(op.remote_id, began)
                if account is not None:
                    shown[id(op)] = (account.listed(), False)
        else:
            listed = []
        from_listing = {id(op) for op in listed}
        for op in order:
            if id(op) in from_listing:
                continue
            detail = read_account(self._client, op.remote_id)
            if detail is not None:
                shown[id(op)] = (account_fields(detail), True)
        return shown


def _sent(fields: Mapping[str, Any]) -> dict[str, Any]:
    """What a create sent that a read can show (never the password)."""
    return {k: v for k, v in wire_fields(fields).items() if k not in WRITE_ONLY}
