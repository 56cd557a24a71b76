"""A push cycle's adapter, built only once the cycle needs the vendor.

A push with nothing to send asks its adapter what the vendor can do, to begin validating
and to arrange no operation: importing the vendor's modules, the HTTP stack under them
and building a client would be most of such a cycle's start-up. What can be refused
without the vendor still is, at once: ``users.match`` the vendor cannot find accounts by.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from syncd.model import DesiredUser, Operation
    from syncd.vendors.base import Adapter, Capabilities, VendorFacts


class DeferredAdapter:
    """Stands for the adapter ``build`` gives, and builds it the first time it is needed."""

    def __init__(
        self,
        vendor: str,
        facts: VendorFacts,
        target: Any,
        match: str | None,
        build: Callable[[], Adapter],
    ) -> None:
        facts.check_match(match)
        self.vendor = vendor
        self.facts = facts
        self.capabilities: Capabilities = facts.capabilities_for(target)
        self._build = build
        self._adapter: Adapter | None = None
        self._validating = False  # begin_validation was called before the adapter was built
        self._adopting: int | None = None  # begin_adoption's expected; None: no adoption

    @property
    def built(self) -> bool:
        return self._adapter is not None

    def adapter(self) -> Adapter:
        """The adapter itself, built now if it was not yet."""
        if self._adapter is None:
            self._adapter = self._build()
            if self._validating:
                self._adapter.begin_validation()
            if self._adopting is not None:
                self._adapter.begin_adoption(self._adopting)
        return self._adapter

    @property
    def api_calls(self) -> int:
        return 0 if self._adapter is None else self._adapter.api_calls

    def begin_validation(self) -> None:
        if self._adapter is None:
            self._validating = True  # a new pass once there is someone to validate
        else:
            self._adapter.begin_validation()

    def begin_adoption(self, expected: int = 0) -> None:
        self._adopting = expected
        if self._adapter is not None:
            self._adapter.begin_adoption(expected)

    def end_adoption(self) -> None:
        self._adopting = None
        if self._adapter is not None:
            self._adapter.end_adoption()

    def validate(self, user: DesiredUser) -> list[str]:
        return self.adapter().validate(user)

    def arrange(self, ops: Sequence[Operation]) -> list[Operation]:
        return self.adapter().arrange(ops) if ops else []

    def close(self) -> None:
        if self._adapter is not None:
            self._adapter.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.adapter(), name)
