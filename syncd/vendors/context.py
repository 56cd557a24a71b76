"""What an adapter is given besides its target configuration, built by ``syncd.assemble``.

An adapter opens nothing itself: the rate-limit backend it shares with every other
client of its credential (the state store's, or this process's memory) comes in
here, as do the connector settings it needs, typed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from syncd.limits import LimitBackend, MemoryBackend
from syncd.vendors.pulling import NoMemory, PullOptions, ResultMemory

if TYPE_CHECKING:
    from syncd.http import RetryPolicy  # tenacity underneath: loaded once a client is built


@dataclass(frozen=True, slots=True)
class AdapterContext:
    """The connector's name and settings an adapter reads, and the limiter backend it uses.

    ``creatable_group_kinds`` are the group kinds ("group", "branch") whose missing
    groups may be created (``create_missing``); ``match`` is ``users.match``. Without
    a ``limiter`` the adapter's budget is its own (tests); ``retry`` tunes retries (tests).
    ``results`` is what the connector's pull last handed on (nothing without a store).
    """

    connector: str
    match: str | None = None
    creatable_group_kinds: frozenset[str] = frozenset()
    pull: PullOptions = field(default_factory=PullOptions)
    limiter: LimitBackend = field(default_factory=MemoryBackend)
    retry: RetryPolicy | None = None
    results: ResultMemory = field(default_factory=NoMemory)
