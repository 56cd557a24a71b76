"""HR sources: where the people come from (SPEC §3 ``sources:``).

``open_source(name, config)`` gives a ``Source`` whose ``records()`` streams
``SourceRecord``s; an unreadable source raises ``SourceError``, which the engine
treats as "stop before deprovisioning anyone". ``keyed`` pairs records with their
HR key so the engine can report missing and repeated keys.
"""

from __future__ import annotations

from syncd.config.schema.sources import (
    CsvSourceConfig,
    HttpSourceConfig,
    SourceConfig,
    SqlSourceConfig,
)
from syncd.http import RetryPolicy
from syncd.sources.base import Source, SourceError, SourceRecord, key_text, keyed
from syncd.sources.csv import CsvSource
from syncd.sources.http import HttpSource
from syncd.sources.sql import SqlSource

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
    if isinstance(config, CsvSourceConfig):
        return CsvSource(name, config)
    if isinstance(config, SqlSourceConfig):
        return SqlSource(name, config)
    if isinstance(config, HttpSourceConfig):
        return HttpSource(name, config, retry=retry)
    raise SourceError(name, f"unknown source type {getattr(config, 'type', type(config))!r}")
