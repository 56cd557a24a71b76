"""The sink of each configured type: the HR sinks, and HowNow's (which lives with its vendor)."""

from __future__ import annotations

from syncd.config.schema.sinks import (
    CsvSinkConfig,
    HowNowSinkConfig,
    HttpSinkConfig,
    SinkConfig,
    SqlSinkConfig,
)
from syncd.http import RetryPolicy
from syncd.limits import LimitBackend
from syncd.sink_protocol import Sink, SinkError
from syncd.sinks.csv import CsvSink
from syncd.sinks.http import HttpSink
from syncd.sinks.sql import SqlSink
from syncd.vendors.context import AdapterContext
from syncd.vendors.hownow.sink import open_hownow_sink


def open_sink(
    name: str,
    config: SinkConfig,
    *,
    retry: RetryPolicy | None = None,
    limiter: LimitBackend | None = None,
) -> Sink:
    """The sink described by ``config``; nothing is written until ``write``.

    ``retry`` tunes the HTTP sink's retries (tests use short waits). ``limiter`` lets a
    vendor sink (hownow) share its credential's rate limit with every process through the
    state store, as the vendor's connectors do; without it the budget is the sink's own.
    """
    if isinstance(config, CsvSinkConfig):
        return CsvSink(name, config)
    if isinstance(config, SqlSinkConfig):
        return SqlSink(name, config)
    if isinstance(config, HttpSinkConfig):
        return HttpSink(name, config, retry=retry)
    if isinstance(config, HowNowSinkConfig):
        if limiter is None:
            return open_hownow_sink(name, config)
        return open_hownow_sink(
            name, config, context=AdapterContext(connector=f"sink:{name}", limiter=limiter)
        )
    raise SinkError(name, f"unknown sink type {getattr(config, 'type', type(config))!r}")
