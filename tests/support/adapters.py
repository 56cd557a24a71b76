"""Adapters built the way tests ask for them: flat settings in, a typed context out.

An adapter test names what it tunes in one flat list (``start_date=``, ``budget_share=``,
``clock=`` ...). The connector settings go into the ``AdapterContext`` as syncd builds
it; what is left are the adapter class's own keyword arguments (clocks, waits).
"""

from __future__ import annotations

from typing import Any

from syncd.http import RetryPolicy
from syncd.vendors.context import AdapterContext
from syncd.vendors.pulling import DEFAULT_BUDGET_SHARE, PullOptions, overlap_option, start_option


def context_and_tunings(
    connector: str,
    *,
    match: str | None = None,
    retry: RetryPolicy | None = None,
    creatable_group_kinds: Any = (),
    start_date: Any = None,
    overlap: Any = None,
    budget_share: float | None = None,
    **tunings: Any,
) -> tuple[AdapterContext, dict[str, Any]]:
    """The context of a connector called ``connector``, and the adapter's own tunings."""
    pull = PullOptions(
        start_date=start_option(start_date),
        overlap=overlap_option(overlap),
        budget_share=budget_share or DEFAULT_BUDGET_SHARE,
    )
    context = AdapterContext(
        connector,
        match=match,
        creatable_group_kinds=frozenset(creatable_group_kinds),
        pull=pull,
        retry=retry,
    )
    return context, tunings


def build(cls: type, target: Any, connector: str, **settings: Any) -> Any:
    """An adapter of ``cls`` on ``target``, its context and tunings made of ``settings``."""
    context, tunings = context_and_tunings(connector, **settings)
    return cls(target, context, **tunings)
