"""The Adapter protocol every vendor module implements, and what it declares.

The engine never branches on a vendor's name: it reads ``Capabilities`` (what
the vendor can do, how large its batches are) and talks ``Operation`` in,
``Outcome`` out. Each adapter class declares its ``VendorFacts``, which
configuration checks read instead of branching on vendor names. A vendor's
quirks stay in its own module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from syncd.model import DesiredUser, LearningResult, Operation, OpKind, Outcome


@dataclass(frozen=True, slots=True)
class CallCost:
    """The calls one operation kind costs: per batch sent (the write and its job's polls) and
    per operation in it (reading each one back). An estimate, for ``syncd plan``."""

    per_batch: int = 1
    per_item: int = 0


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
    # A deactivated (or deleted) account's results can no longer be read (HowNow lists no
    # deactivated user): the push reads them with ``results_before_leaving`` first and
    # keeps them for the pull.
    results_vanish_on_deactivation: bool = False
    batch_sizes: Mapping[OpKind, int] = field(default_factory=dict)
    # Sent on create only; never stored in the state store nor compared (e.g. passwords).
    write_only_fields: frozenset[str] = frozenset()
    # Reconciliation (``AccountLister``): every account can be listed with its fields and
    # active flag; its group memberships and enrollments too, where cheap to list.
    list_accounts: bool = False
    list_groups: bool = False
    list_courses: bool = False
    # Calls per operation kind, where it is not one call per operation (``CallCost()``).
    call_costs: Mapping[OpKind, CallCost] = field(default_factory=dict)
    # ``arrange`` orders across people (HowNow: a manager's create before their reports'
    # upserts), so the plan is arranged whole: a first sync is not streamed in chunks.
    arranges_across_people: bool = False

    def batch_size(self, kind: OpKind) -> int:
        """How many operations of ``kind`` one ``execute`` call may carry (1 = no batching)."""
        return self.batch_sizes.get(kind, 1)

    def calls_for(self, kind: OpKind, count: int) -> int:
        """About how many calls ``count`` operations of ``kind`` take."""
        cost = self.call_costs.get(kind, CallCost())
        batches = -(-count // max(1, self.batch_size(kind)))
        return batches * cost.per_batch + count * cost.per_item

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


USER_OPERATIONS = ("users_list", "user_create", "user_update", "user_deactivate", "user_reactivate")
"""Account operations a push may need: all vendors have them, Learning Pool only if configured."""

NOT_DOCUMENTED = "its API documents no such operation"
_NO_BRANCHES = "only TalentLMS has branches"
_NO_LEARNING_PATHS = "its API documents no learning path enrolment"


@dataclass(frozen=True)
class VendorFacts:
    """A vendor's declaration: capabilities, what its groups can be, what it cannot do and why.

    ``absent`` explains, per capability name, why the vendor lacks it: configuration
    errors quote it so a person knows it is the vendor, not syncd, that says no. A
    vendor whose capabilities depend on its configuration (Learning Pool's endpoints)
    declares a subclass answering per target.
    """

    capabilities: Capabilities
    group_kinds: frozenset[str] = frozenset({"group"})
    creates_groups: bool = False
    learning_paths: bool = False
    absent: Mapping[str, str] = field(default_factory=dict)
    # Raises ValueError when the vendor cannot find accounts by ``users.match``: checked
    # before the adapter is built, so a cycle with nothing to send still refuses it.
    check_match: Callable[[str | None], object] = lambda match: None

    def capabilities_for(self, target: Any) -> Capabilities:
        """The capabilities of one configured target."""
        return self.capabilities

    def user_operations(self, target: Any) -> frozenset[str]:
        """Which of ``USER_OPERATIONS`` the target can carry out."""
        return frozenset(USER_OPERATIONS)

    def unset(self, target: Any) -> list[tuple[str, str]]:
        """Keys of ``target`` that must be set but are not, with why (only Learning Pool's
        can be: it documents so little that its token path and encoding are configuration)."""
        return []

    def missing_reason(self, target: Any, capability: str) -> str:
        """Why ``target`` lacks ``capability``: quoted in configuration errors."""
        if capability == "branches":
            return _NO_BRANCHES
        if capability == "learning_paths" and capability not in self.absent:
            return _NO_LEARNING_PATHS
        return self.absent.get(capability, NOT_DOCUMENTED)


@dataclass(frozen=True, slots=True)
class TargetCheck:
    """What a plan's groups and courses will meet in the LMS, read at read priority.

    ``groups``/``courses`` map each one a push could not use (absent, and not to be
    created) to why; ``*_listed`` says whether the vendor could tell at all.
    """

    groups: Mapping[str, str] = field(default_factory=dict)
    courses: Mapping[str, str] = field(default_factory=dict)
    groups_listed: bool = False
    courses_listed: bool = False


@dataclass(slots=True)
class PullPage:
    """One batch of results and the cursor to save once a sink has accepted it."""

    results: list[LearningResult]
    cursor: Mapping[str, Any]
    unknown_users: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ListedAccount:
    """One LMS account as the vendor lists it, for reconciliation.

    ``fields`` holds the mapping's field names the listing shows, with the LMS values
    (fields it does not show are not compared). ``match`` is the account's match-key
    value, normalised as the vendor compares it. ``groups``/``courses`` are Membership
    texts among those asked for, None when the vendor cannot list them. A ``protected``
    account (the portal's owner) is reported but never deactivated; one that is not
    ``addressable`` cannot be written to through the API at all.
    """

    remote_id: str
    active: bool
    fields: Mapping[str, Any] = field(default_factory=dict)
    match: str | None = None
    groups: frozenset[str] | None = None
    courses: frozenset[str] | None = None
    protected: bool = False
    addressable: bool = True


def listed_accounts(
    pages: Iterable[Any], account: Callable[[Mapping[str, Any]], ListedAccount | None]
) -> Iterator[ListedAccount]:
    """``account`` of every item of every page (pages with ``items``); None ones left out."""
    for page in pages:
        for item in page.items:
            found = account(item)
            if found is not None:
                yield found


@runtime_checkable
class AccountLister(Protocol):
    """What reconciliation reads: an adapter whose capabilities say ``list_accounts`` has
    one as its ``listing`` attribute."""

    def list_accounts(
        self, groups: frozenset[str], courses: frozenset[str]
    ) -> Iterator[ListedAccount]:
        """Every account, paged at read priority; memberships among ``groups``/``courses``."""
        ...

    def find_account(
        self, remote_id: str, groups: frozenset[str], courses: frozenset[str]
    ) -> ListedAccount | None:
        """One account the listing did not show (the listing may leave inactive ones out);
        None when the LMS no longer has it."""
        ...

    def match_value(self, user: DesiredUser) -> str | None:
        """``user``'s match-key value, normalised like ``ListedAccount.match``."""
        ...

    def comparable(self, name: str, value: Any) -> Any:
        """A field value (from HR or from the LMS) in the form the vendor compares it."""
        ...


@dataclass(frozen=True, slots=True)
class Confirmed:
    """What one read in bulk confirmed of the jobs awaited (``Adapter.confirm_in_bulk``).

    ``outcomes``: the jobs it settled, with their operations' outcomes; ``looked_at``:
    the jobs it looked for and could not settle yet (not polled one by one this round).
    Jobs in neither are polled as usual.
    """

    outcomes: Mapping[str, list[Outcome]] = field(default_factory=dict)
    looked_at: frozenset[str] = frozenset()


@runtime_checkable
class Adapter(Protocol):
    """One LMS, seen through the vocabulary of ``syncd.model``."""

    facts: ClassVar[VendorFacts]
    vendor: str
    capabilities: Capabilities
    target: Any  # the target configuration it was built for (what a vendor lacks is read there)
    listing: AccountLister | None  # reads every account for reconciliation; None: it cannot

    def begin_validation(self) -> None:
        """A validation pass starts: the ``validate`` calls up to the next pass are one plan's.

        Within a pass a vendor may refuse a person for a value another person of the
        same plan already claims (TalentLMS emails and logins, iLMS match values).
        """
        ...

    def validate(self, user: DesiredUser) -> list[str]:
        """Reasons this user would be refused by the vendor; empty when valid.

        Each reason names the field and what is wrong, so a person can fix the HR record.
        """
        ...

    def arrange(self, ops: Sequence[Operation]) -> list[Operation]:
        """The vendor's own ordering of a plan the engine has ordered by phase.

        Most vendors keep the order given. One with dependencies between people
        (HowNow: managers before their reports, reports moved before their old manager
        leaves) reorders. The executor keeps the order it is given.
        """
        ...

    @property
    def api_calls(self) -> int:
        """Requests sent so far (every page read and poll counts), for ``sync_runs``."""
        ...

    def begin_adoption(self, expected: int = 0) -> None:
        """A push cycle's adoption starts: its ``match_existing`` calls up to ``end_adoption``
        are the planning of one cycle (a streamed first sync asks once a chunk).

        Between the two a vendor may answer them all from one read of its listing: an
        account syncd creates meanwhile belongs to someone already linked. Outside them
        (a create whose answer was lost) ``match_existing`` reads afresh. ``expected`` is
        how many people the cycle's matches ask about in all (a streamed first sync's new
        people): lookups or one listing is chosen once, for all of them, not per chunk.
        """
        ...

    def end_adoption(self) -> None:
        """The cycle's adoption is over: a listing remembered for it is forgotten, so the
        next cycle sees the accounts made since. Called however the cycle ends; idempotent."""
        ...

    def match_existing(
        self, users: Sequence[DesiredUser], match: str | None
    ) -> dict[str, RemoteAccount]:
        """Existing LMS accounts for ``users``, keyed by HR key, found on ``match``.

        Used on first sync (adopt instead of creating twice) and after a create
        whose answer was lost. The adapter picks the cheapest way: a filtered
        lookup per person for a few, one paged listing for many (read once within
        an adoption, see ``begin_adoption``). ``match`` None means the vendor's
        natural key (e.g. HowNow's external_user_id).
        """
        ...

    def execute(self, ops: Sequence[Operation]) -> list[Outcome]:
        """Carry out operations of one kind; one outcome per operation, same order."""
        ...

    def check_targets(self, groups: frozenset[str], courses: frozenset[str]) -> TargetCheck:
        """Which of these groups and courses a push could not use, read at read priority
        through the vendor's listings where it has them (``syncd plan``)."""
        ...

    def poll_job(self, job_id: str, ops: Sequence[Operation]) -> list[Outcome] | None:
        """The outcomes of an asynchronous job's operations, or None while it still runs."""
        ...

    def confirm_in_bulk(self, jobs: Mapping[str, Sequence[Operation]]) -> Confirmed:
        """Jobs confirmed by one read of many records, where that is cheaper than polling.

        Asked each round of waiting with the jobs still running. A vendor that can
        read its records in bulk (HowNow's user listing) reads them when that costs
        fewer calls than polling the jobs, and settles the jobs whose records show the
        write applied; the rule of confirmed writes holds (a record that does not show
        it is polled). Others answer an empty ``Confirmed``: every job is polled.
        """
        ...

    def pull(self, cursor: Mapping[str, Any] | None) -> Iterator[PullPage]:
        """Learning results since ``cursor``, naming people as the LMS does (``lms_user_id``).

        The engine maps LMS user to HR key; an adapter sets ``hr_key`` only where the
        LMS itself carries the person's HR key (and a link still wins over it).
        """
        ...

    def results_before_leaving(self, remote_ids: Sequence[str]) -> list[LearningResult]:
        """Every result of these accounts, read (as ``pull`` names them) just before they are
        deactivated or deleted; asked only when ``results_vanish_on_deactivation``."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class ResultReader(Protocol):
    """What a pull reads learning results from: a vendor's adapter, an LRS, or both."""

    vendor: str

    @property
    def api_calls(self) -> int: ...

    def pull(self, cursor: Mapping[str, Any] | None) -> Iterator[PullPage]:
        """Learning results since ``cursor``, in pages each carrying the cursor to save."""
        ...

    def close(self) -> None: ...
