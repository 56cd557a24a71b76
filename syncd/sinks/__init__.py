"""HR sinks: where learning results go (SPEC §3 ``sinks:``, §4 learning result).

``open_sink(name, config)`` gives a ``Sink``; ``Sink.write(results)`` delivers one
batch all-or-nothing or raises ``SinkError`` (the pull cursor then stays put).
Every sink writes ``LearningResult.as_row()`` in ``RESULT_COLUMNS`` order.
"""

from __future__ import annotations

import importlib

from syncd.http import RetryPolicy
from syncd.sinks.base import Sink, SinkError
from syncd.sinks.config import (
    CsvSinkConfig,
    HowNowSinkConfig,
    HttpSinkConfig,
    SinkConfig,
    SqlSinkConfig,
)

__all__ = ["Sink", "SinkError", "open_sink"]

HOWNOW_SINK_MODULE = "syncd.vendors.hownow_sink"
HOWNOW_SINK_FACTORY = "open_hownow_sink"


def open_sink(
    name: str,
    config: SinkConfig,
    *,
    retry: RetryPolicy | None = None,
    state_url: str | None = None,
) -> Sink:
    """The sink described by ``config``; nothing is written until ``write``.

    ``retry`` tunes the HTTP sink's retries (tests use short waits). ``state_url`` lets a
    vendor sink (hownow) share its credential's rate limit with every process through the
    state store, as the vendor's connectors do.
    """
    if isinstance(config, CsvSinkConfig):
        from syncd.sinks.csv import CsvSink

        return CsvSink(name, config)
    if isinstance(config, SqlSinkConfig):
        from syncd.sinks.sql import SqlSink

        return SqlSink(name, config)
    if isinstance(config, HttpSinkConfig):
        from syncd.sinks.http import HttpSink

        return HttpSink(name, config, retry=retry)
    if isinstance(config, HowNowSinkConfig):
        return _open_hownow(name, config, state_url)
    raise SinkError(name, f"unknown sink type {getattr(config, 'type', type(config))!r}")


def _open_hownow(name: str, config: HowNowSinkConfig, state_url: str | None) -> Sink:
    """HowNow's sink lives with the HowNow adapter; it is looked up only when asked for."""
    try:
        module = importlib.import_module(HOWNOW_SINK_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != HOWNOW_SINK_MODULE:
            raise
        module = None
    factory = getattr(module, HOWNOW_SINK_FACTORY, None)
    if factory is None:
        raise SinkError(
            name,
            "type hownow is provided by the HowNow adapter "
            f"({HOWNOW_SINK_MODULE}:{HOWNOW_SINK_FACTORY}), which this installation lacks",
        )
    if state_url is None:
        return factory(name, config)
    return factory(name, config, state_url=state_url)
