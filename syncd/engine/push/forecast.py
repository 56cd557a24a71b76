"""What a plan predicts the push will meet, and why a person gets nothing.

A dry run (``syncd plan``, ``sync --dry-run``) reads what the push would: it says the
calls the operations take and the time that takes at the configured rate limits, whether
the guard would stop the push (then it exits 3, as the push would), which groups and
courses the LMS lacks (read at read priority through the vendor's listings), and who is
out of scope and why. ``why_nothing`` tells for one person (``sync --only``, ``trace``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from syncd.engine.guard import GuardVerdict
from syncd.engine.push.read import Reading, SourceEmpty, read_people
from syncd.engine.push.settings import PushSettings
from syncd.limits.policy import LimitPolicy, Priority, seconds_for
from syncd.model import Operation, OpKind
from syncd.sources.base import SourceError
from syncd.state import store
from syncd.vendors.base import Adapter, Capabilities


@dataclass(frozen=True, slots=True)
class CallEstimate:
    """About how many calls a plan takes, and the least time they take at the rate limits."""

    calls: int
    seconds: float


@dataclass(slots=True)
class Forecast:
    """What the push of a dry run's plan would meet."""

    estimate: CallEstimate
    guard: GuardVerdict
    approved: bool  # ``syncd approve`` lets the next push pass the guard once
    unusable: list[str] = field(default_factory=list)  # groups and courses, and why
    unlisted: list[str] = field(default_factory=list)  # what the vendor cannot list
    out_of_scope: int = 0
    scope_reasons: dict[str, str] = field(default_factory=dict)  # the first few

    @property
    def guard_stops(self) -> bool:
        return self.guard.tripped and not self.approved


@dataclass(frozen=True, slots=True)
class Idle:
    """Why a person gets no operation; ``failed`` when that is a failed record (exit 1)."""

    reason: str
    failed: bool


def estimate(
    ops: Iterable[Operation], capabilities: Capabilities, limits: LimitPolicy | None
) -> CallEstimate:
    """The calls ``ops`` take (batches, job polls and read-backs as the vendor declares them)
    and the least time they take under ``limits`` (deactivations first, at their priority)."""
    return estimate_counts(Counter(op.kind for op in ops), capabilities, limits)


def estimate_counts(
    counts: Mapping[OpKind, int], capabilities: Capabilities, limits: LimitPolicy | None
) -> CallEstimate:
    """``estimate`` from the number of operations of each kind (a plan not held whole)."""
    calls = {kind: capabilities.calls_for(kind, n) for kind, n in counts.items()}
    total = sum(calls.values())
    if limits is None or not total:
        return CallEstimate(total, 0.0)
    deprovisions = sum(n for kind, n in calls.items() if kind.is_deprovision)
    seconds = max(
        seconds_for(deprovisions, limits, Priority.DEPROVISION),
        seconds_for(total, limits, Priority.WRITE),
    )
    return CallEstimate(total, seconds)


@dataclass(slots=True)
class PlanCounts:
    """A plan reduced to what ``syncd plan`` prints of it: its operations by kind, and the
    groups and courses they use. A dry run adds each chunk as it is planned, holding none."""

    kinds: Counter[OpKind] = field(default_factory=Counter)
    adds: Counter[str] = field(default_factory=Counter)  # group adds, by group
    enrolls: Counter[str] = field(default_factory=Counter)  # enrollments, by course

    def add(self, ops: Iterable[Operation]) -> None:
        kinds, adds, enrolls = self.kinds, self.adds, self.enrolls
        for op in ops:
            kind = op.kind
            kinds[kind] += 1
            if op.target:
                if kind is OpKind.GROUP_ADD:
                    adds[op.target] += 1
                elif kind is OpKind.ENROLL:
                    enrolls[op.target] += 1


def check_targets(counts: PlanCounts, adapter: Adapter) -> tuple[list[str], list[str]]:
    """Groups and courses the plan uses that the LMS lacks (with how many operations would fail
    for each), and what the vendor cannot list to tell."""
    adds, enrolls = counts.adds, counts.enrolls
    if not adds and not enrolls:
        return [], []
    found = adapter.check_targets(frozenset(adds), frozenset(enrolls))
    unusable = [
        f"{why}: {adds[target]} group adds would fail"
        for target, why in sorted(found.groups.items())
    ] + [
        f"{why}: {enrolls[target]} enrollments would fail"
        for target, why in sorted(found.courses.items())
    ]
    unlisted = []
    if adds and not found.groups_listed:
        unlisted.append(f"{adapter.vendor} groups are not listed here: not checked")
    if enrolls and not found.courses_listed:
        unlisted.append(f"{adapter.vendor} courses are not listed here: not checked")
    return unusable, unlisted


def why_nothing(reading: Reading, hr_key: str, source: str) -> Idle | None:
    """Why ``hr_key`` gets nothing from a push that read ``reading`` (with ``only`` holding
    the key); None when it is planned, or when only the plan can tell."""
    if hr_key not in reading.seen:
        return Idle(f"not in {source}", failed=True)
    if hr_key in reading.out_of_scope:
        why = reading.scope_reasons.get(hr_key)
        return Idle("out of this connector's scope" + (f": {why}" if why else ""), failed=True)
    if hr_key in reading.unchanged_keys:
        return Idle(
            "unchanged since the last push: its HR record and the mapping are as they were "
            "then, so there is nothing to send",
            failed=False,
        )
    held = [e.reason for e in reading.errors if e.hr_key == hr_key]
    if held:
        return Idle("held back: " + "; ".join(held), failed=True)
    return None


def nothing_to_send(reading: Reading, hr_key: str, ops: Sequence[Operation]) -> Idle | None:
    """For a changed person the plan gives no operation: why (None when it gives some)."""
    if any(op.hr_key == hr_key for op in ops) or hr_key not in reading.desired:
        return None
    if not reading.desired[hr_key].active:
        return Idle("inactive in HR, and no active LMS account: nothing to do", failed=False)
    return Idle(
        "its HR record changed, but not what the mapping gives the LMS: nothing to send",
        failed=False,
    )


def next_push_for(settings: PushSettings, hr_key: str) -> str:
    """What the next push does for ``hr_key``, from the source read as the push reads it (no
    vendor call: the vendor's own checks are the push's to make)."""
    with settings.engine.connect() as conn:
        digests = store.link_digests(conn, settings.connector)
    try:
        reading = read_people(
            settings.records(),
            settings.key,
            settings.mapper,
            lambda _user: [],
            digests,
            frozenset({hr_key}),
            source=settings.source,
        )
    except (SourceEmpty, SourceError) as error:
        return f"cannot tell: {error}"
    idle = why_nothing(reading, hr_key, settings.source)
    if idle is not None:
        return f"nothing: {idle.reason}"
    return "changed since the last push: the next push compares it with the LMS and sends it"
