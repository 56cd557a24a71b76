"""What one connector's pull is given, built from the configuration (or by a test).

The cycle hands the settings to its steps whole (``deliver``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import Engine

from syncd.sink_protocol import Sink
from syncd.vendors.base import Adapter

DEFAULT_BATCH_SIZE = 500


@dataclass(slots=True)
class PullSettings:
    """Everything one connector's pull needs; the caller opens and closes ``sink``."""

    connector: str
    engine: Engine
    adapter: Adapter
    sink: Sink
    sink_name: str  # recorded in delivered_results.sink: a new sink gets everything again
    stop: threading.Event = field(default_factory=threading.Event)
    batch_size: int = DEFAULT_BATCH_SIZE
    unlinked: Literal["report", "ignore"] = "report"  # pull.unlinked
