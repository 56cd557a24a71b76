"""What the HR sinks share beyond the sink protocol (``syncd.sink_protocol``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from syncd.model import LearningResult


def latest_per_result(results: Sequence[LearningResult]) -> list[dict[str, Any]]:
    """One row per result_id, the last given winning, in first-seen order."""
    rows: dict[str, dict[str, Any]] = {}
    for result in results:
        row = result.as_row()
        rows[row["result_id"]] = row
    return list(rows.values())
