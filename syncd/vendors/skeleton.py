"""The parts of the ``Adapter`` protocol every vendor fills in the same way.

An adapter's requests all go through one ``VendorClient``, which counts and closes them
(``VendorApi``). A person is checked by the vendor's validator, a plan keeps
the engine's order unless the vendor reorders it, a pull cycle may spend
``pull.budget_share`` of the credential's shortest window, and the accounts a
vendor's directory found reach the engine as ``RemoteAccount``. How a vendor carries
out an operation, checks a person or finds accounts stays in its own module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Protocol

import structlog

from syncd.http import VendorClient
from syncd.model import DesiredUser, LearningResult, Operation
from syncd.vendors.base import Capabilities, Confirmed, RemoteAccount, TargetCheck, VendorFacts
from syncd.vendors.client import VendorApi
from syncd.vendors.context import AdapterContext
from syncd.vendors.pulling import call_budget

log = structlog.get_logger(__name__)


class PersonValidator(Protocol):
    """A vendor's checks of desired users, one validation pass at a time."""

    def begin_pass(self) -> None: ...

    def validate(self, user: DesiredUser) -> list[str]: ...


class StatelessValidator:
    """Checks that look at one person's fields at a time: a new pass has nothing to forget."""

    def __init__(self, problems: Callable[[Mapping[str, Any]], list[str]]) -> None:
        self._problems = problems

    def begin_pass(self) -> None:
        """Nothing to forget."""

    def validate(self, user: DesiredUser) -> list[str]:
        return self._problems(user.fields)


class FoundAccount(Protocol):
    """An account as a vendor's directory found it."""

    @property
    def id(self) -> str: ...

    @property
    def active(self) -> bool | None: ...


class AdapterSkeleton(VendorApi):
    """Base of the vendors' adapters: what they do alike, given their client and validator."""

    facts: ClassVar[VendorFacts]
    vendor: ClassVar[str]

    def __init__(
        self,
        target: Any,
        context: AdapterContext,
        client: VendorClient,
        validator: PersonValidator,
    ) -> None:
        super().__init__(client)
        self.target = target
        self.context = context
        self.capabilities: Capabilities = self.facts.capabilities_for(target)
        self.validator = validator

    def begin_validation(self) -> None:
        self.validator.begin_pass()

    def validate(self, user: DesiredUser) -> list[str]:
        return self.validator.validate(user)

    def begin_adoption(self, expected: int = 0) -> None:
        """Nothing remembered unless the vendor's directory keeps a listing (it overrides)."""

    def end_adoption(self) -> None:
        """Nothing remembered unless the vendor's directory keeps a listing (it overrides)."""

    def arrange(self, ops: Sequence[Operation]) -> list[Operation]:
        return list(ops)

    def check_targets(self, groups: frozenset[str], courses: frozenset[str]) -> TargetCheck:
        """Nothing known unless the vendor lists its groups or courses (it overrides this)."""
        return TargetCheck()

    def confirm_in_bulk(self, jobs: Mapping[str, Sequence[Operation]]) -> Confirmed:
        """No read in bulk: every job is polled."""
        return Confirmed()

    def results_before_leaving(self, remote_ids: Sequence[str]) -> list[LearningResult]:
        """Nothing to read: a leaver's results stay readable by the pull."""
        return []

    def pull_budget(self) -> int:
        """API calls one pull cycle may make: ``pull.budget_share`` of the shortest window's
        allowance (see ``call_budget``)."""
        return call_budget(self.target.rate_limit.windows(), self.context.pull.budget_share)

    def _matched(
        self, field: str, people: int, found: Mapping[str, FoundAccount]
    ) -> dict[str, RemoteAccount]:
        """The accounts found for ``people`` people by ``field``, keyed by HR key, logged."""
        log.info(f"{self.vendor}_matched", field=field, people=people, found=len(found))
        return {
            hr_key: RemoteAccount(account.id, account.active) for hr_key, account in found.items()
        }
