"""Durations as the configuration writes them: ``30s``, ``15m``, ``1h``, ``1d``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DURATION_FORMS = "a whole number followed by s, m, h or d (e.g. 30s, 15m, 1h, 1d)"


def parse_duration(value: Any) -> timedelta:
    """``"15m"`` -> 15 minutes. Bare numbers are refused: "60" could mean seconds or minutes."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    raise ValueError(f"{value!r} is not a duration: write {DURATION_FORMS}")


def format_duration(value: timedelta) -> str:
    """The shortest exact spelling in the configuration's own units (90 s -> "90s")."""
    seconds = int(value.total_seconds())
    for unit in ("d", "h", "m"):
        size = _UNIT_SECONDS[unit]
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema(
        {"type": "string", "pattern": r"^\s*\d+\s*[smhd]\s*$", "examples": ["30s", "15m", "1h"]}
    ),
]
"""A pydantic field type: accepts ``30s``/``15m``/``1h``/``1d``, holds a ``timedelta``."""
