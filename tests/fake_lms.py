"""An in-memory LMS behind the Adapter protocol, for engine tests that need no vendor.

It behaves like a strict vendor: emails are unique, unknown ids are refused,
and it can run creates as asynchronous jobs, refuse chosen records, or lose
the answer to a create after applying it (as a dropped connection would).
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from syncd.model import (
    DesiredUser,
    Operation,
    OpKind,
    Outcome,
    OutcomeStatus,
    record_hash,
    stable_hash,
)
from syncd.vendors.base import Capabilities, Confirmed, PullPage, RemoteAccount, TargetCheck


@dataclass
class Account:
    fields: dict[str, Any]
    active: bool = True
    groups: set[str] = field(default_factory=set)
    courses: set[str] = field(default_factory=set)


class FakeLMS:
    vendor = "fake"
    target = None
    listing = None  # it cannot list its accounts: reconciliation refuses it

    def __init__(
        self,
        *,
        batch: int = 3,
        async_creates: bool = False,
        polls_to_finish: int = 2,
        async_kinds: Collection[OpKind] = (),
    ) -> None:
        # Writes of these kinds are answered by a job (creates alone with ``async_creates``).
        self.async_kinds = set(async_kinds) | ({OpKind.CREATE} if async_creates else set())
        self.capabilities = Capabilities(
            groups=True,
            enrollments=True,
            delete=True,
            async_jobs=bool(self.async_kinds),
            pull=False,
            batch_sizes={OpKind.CREATE: batch, OpKind.UPDATE: batch},
            write_only_fields=frozenset({"password"}),
        )
        self.accounts: dict[str, Account] = {}
        self.polls_to_finish = polls_to_finish
        self.jobs: dict[str, dict[str, Any]] = {}
        self.calls = 0
        self.writes: list[tuple[str, str]] = []  # (kind, hr_key) of every write received
        self.refuse_emails: set[str] = set()
        self.faulty_emails: set[str] = set()  # their creates meet a passing fault (RETRY)
        self.lose_answer_after_create = False
        self.passwords_seen: list[str] = []
        self._ids = itertools.count(1000)

    # --- the protocol ----------------------------------------------------------------------
    @property
    def api_calls(self) -> int:
        return self.calls

    def begin_validation(self) -> None:
        pass

    def begin_adoption(self, expected: int = 0) -> None:
        pass

    def end_adoption(self) -> None:
        pass

    def validate(self, user: DesiredUser) -> list[str]:
        email = str(user.fields.get("email", ""))
        return [] if "@" in email else [f"email {email!r} is not a valid address"]

    def arrange(self, ops: Sequence[Operation]) -> list[Operation]:
        return list(ops)

    def match_existing(self, users: Sequence[DesiredUser], match: str | None):
        self.calls += 1
        by_email = {a.fields.get("email"): rid for rid, a in self.accounts.items()}
        found = {}
        for user in users:
            rid = by_email.get(user.fields.get("email"))
            if rid is not None:
                found[user.hr_key] = RemoteAccount(rid, self.accounts[rid].active)
        return found

    def execute(self, ops: Sequence[Operation]) -> list[Outcome]:
        self.calls += 1
        if ops[0].kind in self.async_kinds:
            job_id = f"job-{next(self._ids)}"
            self.jobs[job_id] = {"ops": list(ops), "polls": 0}
            return [Outcome(op, OutcomeStatus.PENDING, job_id=job_id) for op in ops]
        outcomes = [self._apply(op) for op in ops]
        if self.lose_answer_after_create and ops[0].kind is OpKind.CREATE:
            self.lose_answer_after_create = False
            raise ConnectionError("answer lost")
        return outcomes

    def poll_job(self, job_id: str, ops: Sequence[Operation]) -> list[Outcome] | None:
        self.calls += 1
        job = self.jobs[job_id]
        job["polls"] += 1
        if job["polls"] < self.polls_to_finish:
            return None
        if "outcomes" not in job:
            by_key = {op.hr_key: op for op in job["ops"]}
            job["outcomes"] = {k: self._apply(op) for k, op in by_key.items()}
        return [
            Outcome(
                op,
                job["outcomes"][op.hr_key].status,
                job["outcomes"][op.hr_key].remote_id,
                error=job["outcomes"][op.hr_key].error,
            )
            for op in ops
        ]

    def confirm_in_bulk(self, jobs: Mapping[str, Sequence[Operation]]) -> Confirmed:
        return Confirmed()  # it reads nothing in bulk: every job is polled

    def pull(self, cursor: Mapping[str, Any] | None) -> Iterator[PullPage]:
        return iter(())

    def check_targets(self, groups: frozenset[str], courses: frozenset[str]) -> TargetCheck:
        return TargetCheck()  # it lists neither

    def close(self) -> None:
        pass

    # --- behaviour ---------------------------------------------------------------------------
    def _apply(self, op: Operation) -> Outcome:
        self.writes.append((op.kind.value, op.hr_key))
        if op.kind is OpKind.CREATE:
            email = op.fields.get("email")
            if email in self.faulty_emails:
                return Outcome(op, OutcomeStatus.RETRY, error="HTTP 503 after 5 attempts")
            if email in self.refuse_emails:
                return Outcome(op, OutcomeStatus.FAILED, error=f"email {email} is refused")
            if any(a.fields.get("email") == email for a in self.accounts.values()):
                return Outcome(op, OutcomeStatus.FAILED, error="email already exists")
            self.passwords_seen.append(str(op.fields.get("password", "")))
            rid = str(next(self._ids))
            fields = {k: v for k, v in op.fields.items() if k != "password"}
            self.accounts[rid] = Account(fields)
            return Outcome(op, OutcomeStatus.DONE, rid)
        account = self.accounts.get(op.remote_id or "")
        if account is None:
            return Outcome(op, OutcomeStatus.FAILED, error=f"user {op.remote_id} not found")
        if op.kind is OpKind.UPDATE:
            account.fields.update({k: op.fields[k] for k in op.changed})
        elif op.kind is OpKind.DEACTIVATE:
            account.active = False
        elif op.kind is OpKind.REACTIVATE:
            account.active = True
        elif op.kind is OpKind.DELETE:
            del self.accounts[op.remote_id]
        elif op.kind is OpKind.GROUP_ADD:
            account.groups.add(op.target)
        elif op.kind is OpKind.GROUP_REMOVE:
            account.groups.discard(op.target)
        elif op.kind is OpKind.ENROLL:
            account.courses.add(op.target)
        elif op.kind is OpKind.UNENROLL:
            account.courses.discard(op.target)
        return Outcome(op, OutcomeStatus.DONE, op.remote_id)

    # --- what a test checks ---------------------------------------------------------------------
    def by_email(self) -> dict[str, Account]:
        return {a.fields["email"]: a for a in self.accounts.values()}


class TinyMapper:
    """A mapping without Jinja: email, name, department as group, Sales gets course 101."""

    fingerprint = stable_hash("tiny-mapper-v1")

    def in_scope(self, record: dict[str, Any], hr_key: str = "") -> bool:
        return record.get("status") != "contractor"

    def scope_reason(self, record: dict[str, Any]) -> str:
        return f"status is {record.get('status')!r}"

    def render(
        self, hr_key: str, record: dict[str, Any], source_hash: int | None = None
    ) -> DesiredUser:
        groups = frozenset({record["department"]}) if record.get("department") else frozenset()
        courses = frozenset({"101"}) if record.get("department") == "Sales" else frozenset()
        return DesiredUser(
            hr_key=hr_key,
            fields={"email": record.get("email", ""), "name": record.get("name", "")},
            active=record.get("status", "active") in ("active", "leave"),
            groups=groups,
            courses=courses,
            source_hash=(
                record_hash(self.fingerprint, record) if source_hash is None else source_hash
            ),
        )
