"""The sink of each configured type: the HR sinks, HowNow's (which lives with its vendor) and
the LRS's (with the xAPI source, which reads the same statements).
"""

from __future__ import annotations

from sqlalchemy import Engine

from syncd.assemble.emails import emails_of_people
from syncd.config.schema.sinks import (
    CsvSinkConfig,
    HowNowSinkConfig,
    HttpSinkConfig,
    SinkConfig,
    SqlSinkConfig,
    XapiSinkConfig,
)
from syncd.http import RetryPolicy
from syncd.limits import LimitBackend
from syncd.sink_protocol import Sink, SinkError
from syncd.sinks.csv import CsvSink
from syncd.sinks.http import HttpSink
from syncd.sinks.sql import SqlSink
from syncd.vendors.context import AdapterContext
from syncd.vendors.hownow.sink import open_hownow_sink
from syncd.vendors.xapi import open_xapi_sink


def open_sink(
    name: str,
    config: SinkConfig,
    *,
    retry: RetryPolicy | None = None,
    limiter: LimitBackend | None = None,
    engine: Engine | None = None,
) -> Sink:
    """The sink described by ``config``; nothing is written until ``write``.

    ``retry`` tunes the http and xapi sinks' retries (tests use short waits). ``limiter`` lets a
    vendor-side sink (hownow, xapi) share its credential's rate limit with every process
    through the state store, as the vendor's connectors do; without it the budget is the
    sink's own. ``engine`` (the state store) lets an xapi sink name people by the e-mail
    their links hold (``actor.email_field``).
    """
    if isinstance(config, CsvSinkConfig):
        return CsvSink(name, config)
    if isinstance(config, SqlSinkConfig):
        return SqlSink(name, config)
    if isinstance(config, HttpSinkConfig):
        return HttpSink(name, config, retry=retry)
    if isinstance(config, HowNowSinkConfig):
        return open_hownow_sink(name, config, context=_sink_context(name, limiter))
    if isinstance(config, XapiSinkConfig):
        field = config.actor.email_field
        emails = emails_of_people(engine, field) if engine is not None and field else None
        context = _sink_context(name, limiter, retry)
        return open_xapi_sink(name, config, context=context, emails=emails)
    raise SinkError(name, f"unknown sink type {getattr(config, 'type', type(config))!r}")


def _sink_context(
    name: str, limiter: LimitBackend | None, retry: RetryPolicy | None = None
) -> AdapterContext | None:
    """A vendor-side sink's context: its budget shared through ``limiter``, its retries
    tuned by ``retry``; None (the sink's own budget and retries) without either."""
    if limiter is None and retry is None:
        return None
    if limiter is None:
        return AdapterContext(connector=f"sink:{name}", retry=retry)
    return AdapterContext(connector=f"sink:{name}", limiter=limiter, retry=retry)
