"""The shared vocabulary: every part of syncd speaks these types.

Sources yield plain dicts (HR records). The mapping turns each into a
``DesiredUser``. The diff compares desired users with ``LinkState`` (what was
last pushed) and emits ``Operation``s. Adapters take operations and answer with
``Outcome``s. In the other direction adapters yield ``LearningResult``s.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

HRRecord = dict[str, Any]


class OpKind(StrEnum):
    """What an operation does to one person in one LMS."""

    DEACTIVATE = "deactivate"
    DELETE = "delete"
    REACTIVATE = "reactivate"
    CREATE = "create"
    UPDATE = "update"
    GROUP_ADD = "group_add"
    GROUP_REMOVE = "group_remove"
    ENROLL = "enroll"
    UNENROLL = "unenroll"

    @property
    def phase(self) -> int:
        """Execution phase: leavers first, then accounts, then memberships (SPEC §4.4)."""
        return _PHASE[self]

    @property
    def is_deprovision(self) -> bool:
        return self in (OpKind.DEACTIVATE, OpKind.DELETE)


_PHASE = {
    OpKind.DEACTIVATE: 0,
    OpKind.DELETE: 0,
    OpKind.REACTIVATE: 1,
    OpKind.CREATE: 2,
    OpKind.UPDATE: 2,
    OpKind.GROUP_REMOVE: 3,
    OpKind.GROUP_ADD: 3,
    OpKind.UNENROLL: 4,
    OpKind.ENROLL: 4,
}


class OpState(StrEnum):
    """Life of an outbox row: pending -> sent -> (waiting on a job) -> done | failed.

    ``unknown`` means the request went out but its answer was lost; the executor
    must look the record up by its match key before sending it again.
    """

    PENDING = "pending"
    SENT = "sent"
    WAITING = "waiting"
    UNKNOWN = "unknown"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class LinkStatus(StrEnum):
    """Situation of an HR person in one LMS (after midPoint's 'situations')."""

    LINKED = "linked"  # exists in the LMS and is active
    DEACTIVATED = "deactivated"  # exists in the LMS, deactivated by syncd
    DELETED = "deleted"  # removed from the LMS by syncd
    PENDING = "pending"  # a create was sent but not yet confirmed
    FAILED = "failed"  # the vendor refused the create; retried when HR changes or on retry


BRANCH_PREFIX = "branch:"
"""A branch travels in ``DesiredUser.groups`` (and is stored) as ``branch:<name>``."""

LEARNING_PATH_PREFIX = "learning-path:"
"""A learning path travels in ``DesiredUser.courses`` (and is stored) as ``learning-path:<id>``."""


class MembershipKind(StrEnum):
    """What a person can belong to in an LMS: the groups side and the courses side."""

    GROUP = "group"
    BRANCH = "branch"
    COURSE = "course"
    LEARNING_PATH = "learning_path"


_MEMBERSHIP_PREFIXES = {
    MembershipKind.BRANCH: BRANCH_PREFIX,
    MembershipKind.LEARNING_PATH: LEARNING_PATH_PREFIX,
}


@dataclass(frozen=True, slots=True)
class Membership:
    """One group, branch, course or learning path, typed.

    Desired users, links and operations carry its ``text`` (a plain name or id, or
    ``branch:<name>``, ``learning-path:<id>``): that is what the state store has always
    kept, so stored links still compare equal. ``group`` and ``course`` read the text
    back, so a vendor never looks at prefixes.
    """

    kind: MembershipKind
    name: str

    @property
    def text(self) -> str:
        return _MEMBERSHIP_PREFIXES.get(self.kind, "") + self.name

    @classmethod
    def group(cls, text: str) -> Membership:
        """A group, or a branch when ``text`` is ``branch:<name>``."""
        if text.startswith(BRANCH_PREFIX):
            return cls(MembershipKind.BRANCH, text[len(BRANCH_PREFIX) :])
        return cls(MembershipKind.GROUP, text)

    @classmethod
    def course(cls, text: str) -> Membership:
        """A course, or a learning path when ``text`` is ``learning-path:<id>``."""
        if text.startswith(LEARNING_PATH_PREFIX):
            return cls(MembershipKind.LEARNING_PATH, text[len(LEARNING_PATH_PREFIX) :])
        return cls(MembershipKind.COURSE, text)


@dataclass(frozen=True, slots=True)
class DesiredUser:
    """What one HR person should look like in one LMS, after mapping."""

    hr_key: str
    fields: Mapping[str, Any]
    active: bool = True
    groups: frozenset[str] = frozenset()  # Membership texts: groups and branches
    courses: frozenset[str] = frozenset()  # Membership texts: courses and learning paths
    source_hash: int | None = None  # the record's digest under the mapping (``record_hash``)


@dataclass(frozen=True, slots=True)
class LinkState:
    """What syncd last pushed for one person (the link: HR key <-> remote id)."""

    hr_key: str
    remote_id: str | None
    fields: Mapping[str, Any]
    active: bool
    groups: frozenset[str] = frozenset()
    courses: frozenset[str] = frozenset()
    status: LinkStatus = LinkStatus.LINKED
    source_hash: int | None = None


@dataclass(slots=True)
class Operation:
    """One intended change in one LMS.

    ``fields`` always carries the full desired fields (some vendors replace
    whole records); ``changed`` names the ones that differ from the link, so a
    vendor with partial updates sends only those. ``target`` is the ``Membership``
    text of a membership operation (``Membership.group``/``course`` read it typed).
    """

    kind: OpKind
    hr_key: str
    remote_id: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    changed: tuple[str, ...] = ()
    target: str | None = None
    id: int | None = None
    attempts: int = 0

    @property
    def sort_key(self) -> tuple[int, str, str, str]:
        kind = self.kind  # ``kind.phase`` and ``kind.value`` without their property calls
        return (_PHASE[kind], kind._value_, self.hr_key, self.target or "")

    def describe(self) -> str:
        """A one-line description for logs and plans (no field values: they may be personal)."""
        suffix = f" -> {self.target}" if self.target else ""
        return f"{self.kind.value} {self.hr_key}{suffix}"


class OutcomeStatus(StrEnum):
    DONE = "done"  # the vendor confirmed it
    FAILED = "failed"  # the vendor refused it for this record; not retried automatically
    RETRY = "retry"  # passing fault: a later cycle tries again, with backoff, up to a limit
    UNKNOWN = "unknown"  # sent, answer lost: look up before sending again (also limited)
    PENDING = "pending"  # accepted as an asynchronous job; poll ``job_id``


@dataclass(slots=True)
class Outcome:
    """The answer to one operation."""

    op: Operation
    status: OutcomeStatus
    remote_id: str | None = None
    job_id: str | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    # RETRY only: held back on purpose, not failed (the vendor cannot take it yet: a future
    # start date). It waits in the outbox and is offered again every cycle, with no limit.
    held: bool = False


class ResultStatus(StrEnum):
    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    PASSED = "passed"
    FAILED = "failed"
    WAIVED = "waived"


RESULT_COLUMNS = (
    "result_id",
    "connector",
    "vendor",
    "hr_key",
    "lms_user_id",
    "course_id",
    "course_name",
    "status",
    "progress",
    "score",
    "started_at",
    "completed_at",
    "certificate_url",
    "certificate_expires_at",
    "updated_at",
    "credits",
    "hours",
    "certification_status",
)
"""Column order every sink writes: SPEC §4's, then ``ADDED_COLUMNS``."""

ADDED_COLUMNS = ("credits", "hours", "certification_status")
"""Columns added after the first release, at the end so existing sinks keep their order.

A result that leaves them empty hashes as it did before they existed
(``content_hash``), so an upgrade delivers nothing again by itself.
"""


@dataclass(frozen=True, slots=True)
class LearningResult:
    """One person's result in one course attempt, as every sink writes it.

    Unknown values stay ``None``: never invented. Adapters build it as the LMS names
    the person (``lms_user_id``; ``hr_key`` only where the LMS itself carries it);
    the pull engine identifies the person once, on a copy (``dataclasses.replace``).
    """

    vendor: str
    lms_user_id: str
    course_id: str
    status: ResultStatus
    connector: str = ""
    hr_key: str | None = None
    course_name: str | None = None
    progress: float | None = None
    score: float | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    certificate_url: str | None = None
    certificate_expires_at: datetime | None = None
    updated_at: datetime | None = None
    credits: float | None = None  # earned in the course, as the LMS counts them
    hours: float | None = None  # credit hours, as the LMS counts them
    certification_status: str | None = None  # as the LMS words it ("Never Certified")
    attempt: str = "1"
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def result_id(self) -> str:
        """Stable for one person, course and attempt, whatever else changes."""
        basis = f"{self.vendor}|{self.lms_user_id}|{self.course_id}|{self.attempt}"
        return hashlib.sha256(basis.encode()).hexdigest()[:32]

    def content_hash(self) -> str:
        """Changes whenever anything a sink writes changes (used to deliver each change once)."""
        row = self.as_row()
        row.pop("updated_at", None)
        for name in ADDED_COLUMNS:
            if row[name] is None:
                del row[name]
        return stable_hash(row)

    def as_row(self) -> dict[str, Any]:
        """The sink row: ISO 8601 UTC strings for dates, ``None`` for unknown values."""
        row: dict[str, Any] = {}
        for name in RESULT_COLUMNS:
            value = self.result_id if name == "result_id" else getattr(self, name)
            if isinstance(value, datetime):
                value = iso_utc(value)
            elif isinstance(value, StrEnum):
                value = value.value
            row[name] = value
        return row


def iso_utc(value: datetime) -> str:
    """ISO 8601 in UTC with a trailing Z; naive datetimes are taken as UTC."""
    from datetime import UTC

    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def flag_of(value: Any, true_words: frozenset[str], false_words: frozenset[str]) -> bool | None:
    """A yes or no as data carries it: a bool, 0 or 1, or one of the words (trimmed, any
    case); None for anything else. Each reader names the words its data uses."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in true_words:
            return True
        if word in false_words:
            return False
    return None


_CANONICAL = json.JSONEncoder(sort_keys=True, default=str, separators=(",", ":"))
"""One encoder for every hash: ``json.dumps`` with options builds a new one per call."""


def stable_hash(value: Any) -> str:
    """A 128-bit hash of plain data that does not depend on dict order.

    It runs once per HR record on every cycle, so it is kept cheap: one C-level
    JSON encoding and BLAKE2b.
    """
    return hashlib.blake2b(_CANONICAL.encode(value).encode(), digest_size=16).hexdigest()


def record_hash(fingerprint: str, record: Mapping[str, Any]) -> int:
    """The ``source_hash`` of an HR record under one mapping: record and mapping together.

    The mapping stamps it on each DesiredUser and the engine compares it with the
    link's, to skip people whose record and mapping are both unchanged.
    """
    encoded = _CANONICAL.encode([fingerprint, record]).encode()
    return digest_number(hashlib.blake2b(encoded, digest_size=DIGEST_SIZE).digest())


DIGEST_SIZE = 8
"""Bytes in a record's digest: stored as one 64-bit integer a link, read a million a cycle."""


def digest_number(digest: bytes) -> int:
    """An 8-byte digest as the signed integer a BIGINT column holds."""
    return int.from_bytes(digest, "big", signed=True)


class LinkDigests(dict[str, int | None]):
    """HR key -> the digest of the record each link was last planned from (None: re-read).

    A no-change cycle holds one entry a person, so the status is kept only for links
    that are not ``linked`` (few): ``status`` answers for every key. ``linked`` is how
    many were ``linked`` when read (the guard's count), however many are taken out since.
    ``read_at`` is when the read began; ``snapshot_due`` says the linked ones should be
    kept as a new snapshot (``state.snapshots``) before any is taken out.
    """

    __slots__ = ("linked", "read_at", "snapshot_due", "statuses")

    def __init__(self) -> None:
        super().__init__()
        self.statuses: dict[str, LinkStatus] = {}
        self.linked = 0
        self.read_at: datetime | None = None
        self.snapshot_due = False

    def status(self, hr_key: str) -> LinkStatus:
        return self.statuses.get(hr_key, LinkStatus.LINKED)

    def linked_items(self) -> Iterator[tuple[str, int | None]]:
        """(key, digest) of the ``linked`` links."""
        statuses = self.statuses
        return ((key, digest) for key, digest in self.items() if key not in statuses)
