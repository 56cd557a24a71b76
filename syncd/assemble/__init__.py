"""The one place that builds syncd's parts from the configuration.

It opens the state store, builds the rate-limit backend every client of a
credential shares, and the adapters, sources and sinks a connector needs;
adapters are given all of it and open nothing themselves. Loading a
configuration through here adds the checks that need the vendors' declarations
and the mapping compiler. The CLI, the daemon and the demo use only this.
"""

from __future__ import annotations

from syncd.assemble.checks import CONNECTOR_CHECKS, check, load_config
from syncd.assemble.cycles import (
    adapter_context,
    build_adapter,
    creatable_group_kinds,
    pull_once,
    pull_settings,
    push_once,
    push_settings,
    record_certifications,
)
from syncd.assemble.store import StateNotReady, limiter_backend, open_state
from syncd.assemble.vendors import ADAPTERS, adapter_class, vendor_facts, write_only_fields

__all__ = [
    "ADAPTERS",
    "CONNECTOR_CHECKS",
    "StateNotReady",
    "adapter_class",
    "adapter_context",
    "build_adapter",
    "check",
    "creatable_group_kinds",
    "limiter_backend",
    "load_config",
    "open_sink",
    "open_state",
    "pull_once",
    "pull_settings",
    "push_once",
    "push_settings",
    "record_certifications",
    "vendor_facts",
    "write_only_fields",
]


def __getattr__(name: str) -> object:
    """``open_sink`` is imported when first asked for: only a pull writes to a sink, and the
    sinks bring their clients (HTTP, SQL, LRS) with them."""
    if name == "open_sink":
        from syncd.assemble.sinks import open_sink

        return open_sink
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
