"""The Adapter protocol every vendor module implements, and what it declares.

The engine never branches on a vendor's name: it reads ``Capabilities`` (what
the vendor can do, how large its batches are) and talks ``Operation`` in,
``Outcome`` out. A vendor's quirks stay in its own module.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from syncd.model import DesiredUser, LearningResult, Operation, OpKind, Outcome


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a vendor can do. Config validation and the planner read this."""

    groups: bool = False  # write group (or branch) memberships
    enrollments: bool = False  # write course enrollments
    delete: bool = False  # hard delete
    async_jobs: bool = False  # some writes answer with a job to poll
    pull: bool = False  # learning results can be read
    incremental_pull: bool = False  # results can be read "since" a cursor
    learning_records_sink: bool = False  # can receive learning results from elsewhere
    batch_sizes: Mapping[OpKind, int] = field(default_factory=dict)
    # Sent on create only; never stored in the state store nor compared (e.g. passwords).
    write_only_fields: frozenset[str] = frozenset()

    def batch_size(self, kind: OpKind) -> int:
        """How many operations of ``kind`` one ``execute`` call may carry (1 = no batching)."""
        return self.batch_sizes.get(kind, 1)

    def supports(self, kind: OpKind) -> bool:
        if kind in (OpKind.GROUP_ADD, OpKind.GROUP_REMOVE):
            return self.groups
        if kind in (OpKind.ENROLL, OpKind.UNENROLL):
            return self.enrollments
        if kind is OpKind.DELETE:
            return self.delete
        return True


@dataclass(frozen=True, slots=True)
class RemoteAccount:
    """An account found in the LMS by matching; ``active`` None when the vendor does not say."""

    remote_id: str
    active: bool | None = None


@dataclass(slots=True)
class AdapterContext:
    """What an adapter gets from the engine besides its target configuration.

    ``state_url`` lets the HTTP layer share rate-limit budgets through the state
    store; ``options`` carries connector settings the adapter needs, such as
    ``creatable_group_kinds`` (the group kinds, "group" or "branch", whose
    missing groups may be created) and test tunings.
    """

    connector: str
    state_url: str | None = None
    match: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class PullPage:
    """One batch of results and the cursor to save once a sink has accepted it."""

    results: list[LearningResult]
    cursor: Mapping[str, Any]
    unknown_users: list[str] = field(default_factory=list)


@runtime_checkable
class Adapter(Protocol):
    """One LMS, seen through the vocabulary of ``syncd.model``."""

    vendor: str
    capabilities: Capabilities

    def validate(self, user: DesiredUser) -> list[str]:
        """Reasons this user would be refused by the vendor; empty when valid.

        Each reason names the field and what is wrong, so a person can fix the HR record.
        """
        ...

    @property
    def api_calls(self) -> int:
        """Requests sent so far (every page read and poll counts), for ``sync_runs``."""
        ...

    def match_existing(
        self, users: Sequence[DesiredUser], match: str | None
    ) -> dict[str, RemoteAccount]:
        """Existing LMS accounts for ``users``, keyed by HR key, found on ``match``.

        Used on first sync (adopt instead of creating twice) and after a create
        whose answer was lost. The adapter picks the cheapest way: a filtered
        lookup per person for a few, one paged listing for many. ``match`` None
        means the vendor's natural key (e.g. HowNow's external_user_id).
        """
        ...

    def execute(self, ops: Sequence[Operation]) -> list[Outcome]:
        """Carry out operations of one kind; one outcome per operation, same order."""
        ...

    def poll_job(self, job_id: str, ops: Sequence[Operation]) -> list[Outcome] | None:
        """The outcomes of an asynchronous job's operations, or None while it still runs."""
        ...

    def pull(self, cursor: Mapping[str, Any] | None) -> Iterator[PullPage]:
        """Learning results since ``cursor``, naming people as the LMS does (``lms_user_id``).

        The engine maps LMS user to HR key; an adapter sets ``hr_key`` only where the
        LMS itself carries the person's HR key (and a link still wins over it).
        """
        ...

    def close(self) -> None: ...


def arrange_plan(adapter: Adapter, ops: list[Operation]) -> list[Operation]:
    """The adapter's own ordering of a plan, when it has one (an optional ``arrange`` method).

    The engine orders by phase (leavers, accounts, memberships); a vendor with
    dependencies between people (HowNow: managers before their reports, reports
    moved before their old manager leaves) may reorder. The executor keeps the
    order it is given.
    """
    arrange = getattr(adapter, "arrange", None)
    return list(arrange(ops)) if arrange is not None else ops
