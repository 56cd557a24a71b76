"""What one connector's pull is given, built from the configuration (or by a test).

The cycle hands the settings to its steps whole (``deliver``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from sqlalchemy import Engine

from syncd.sink_protocol import Sink
from syncd.vendors.base import ResultReader

DEFAULT_BATCH_SIZE = 500


@dataclass(slots=True)
class PullSettings:
    """Everything one connector's pull needs; the caller opens and closes ``sink``."""

    connector: str
    engine: Engine
    adapter: ResultReader  # the vendor's adapter, an LRS, or both (``pull.from``)
    sink: Sink
    sink_name: str  # recorded in delivered_results.sink: a new sink gets everything again
    stop: threading.Event = field(default_factory=threading.Event)
    batch_size: int = DEFAULT_BATCH_SIZE
    # Windows of the certifications-expiring gauge, set as each cycle ends.
    expiring_within: tuple[timedelta, ...] = (timedelta(days=30),)
    unlinked: Literal["report", "ignore"] = "report"  # pull.unlinked
