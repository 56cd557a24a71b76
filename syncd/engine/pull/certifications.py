"""The ``syncd_certifications_expiring{connector,within}`` gauge, from what the sink was given.

It is set at the end of every pull cycle and when the daemon starts, for each window of
the connector's ``pull.expiring_within`` (``30d`` unless configured), so a dashboard
shows certifications running out without anyone asking ``syncd results``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import Engine

from syncd.config.schema.durations import format_duration
from syncd.metrics import CERTIFICATIONS_EXPIRING
from syncd.state.learning import count_expiring


def record_expiring(
    engine: Engine,
    connector: str,
    sink: str,
    windows: Iterable[timedelta],
    now: datetime | None = None,
) -> dict[str, int]:
    """Set the gauge for each window; the counts, by window as the label shows it."""
    counts: dict[str, int] = {}
    with engine.connect() as conn:
        for within in windows:
            label = format_duration(within)
            counts[label] = count_expiring(conn, connector, sink, within, now)
            CERTIFICATIONS_EXPIRING.labels(connector, label).set(counts[label])
    return counts
