"""HR sources: where the people come from (SPEC §3 ``sources:``).

``open_source(name, config)`` gives a ``Source`` whose ``records()`` streams
``SourceRecord``s; an unreadable source raises ``SourceError``, which the engine
treats as "stop before deprovisioning anyone". ``keyed`` pairs records with their
HR key so the engine can report missing and repeated keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from syncd.config.schema.sources import (
    CsvSourceConfig,
    HttpSourceConfig,
    SourceConfig,
    SqlSourceConfig,
)
from syncd.sources.base import Source, SourceError, SourceRecord, key_text, keyed

if TYPE_CHECKING:
    from syncd.http import RetryPolicy

__all__ = [
    "Source",
    "SourceError",
    "SourceRecord",
    "key_text",
    "keyed",
    "open_source",
]


def open_source(name: str, config: SourceConfig, *, retry: RetryPolicy | None = None) -> Source:
    """The source described by ``config``; nothing is read until ``records()`` is iterated.

    ``retry`` tunes the HTTP source's retries (tests use short waits).
    """
    # Each kind is imported when configured: the HTTP and SQL sources bring their clients.
    if isinstance(config, CsvSourceConfig):
        from syncd.sources.csv import CsvSource

        return CsvSource(name, config)
    if isinstance(config, SqlSourceConfig):
        from syncd.sources.sql import SqlSource

        return SqlSource(name, config)
    if isinstance(config, HttpSourceConfig):
        from syncd.sources.http import HttpSource

        return HttpSource(name, config, retry=retry)
    raise SourceError(name, f"unknown source type {getattr(config, 'type', type(config))!r}")
