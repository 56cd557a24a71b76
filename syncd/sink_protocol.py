"""What every sink of learning results promises the pull engine: a batch accepted whole, or refused.

The HR sinks (``syncd.sinks``) and the HowNow sink (``syncd.vendors.hownow.sink``)
implement it; it sits in the vocabulary so that neither imports the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from syncd.model import LearningResult


class SinkError(Exception):
    """The sink did not accept the batch; the pull cursor must not advance."""

    def __init__(self, sink_name: str, reason: str) -> None:
        super().__init__(f"sink {sink_name!r}: {reason}")
        self.sink_name = sink_name
        self.reason = reason


@runtime_checkable
class Sink(Protocol):
    """Receives learning results (rows of ``LearningResult.as_row()``).

    ``max_batch`` is the most results one ``write`` can deliver atomically (None:
    no limit); the pull engine should not pass more, so that "accepted" always
    means "accepted whole".
    """

    name: str
    max_batch: int | None

    def write(self, results: Sequence[LearningResult]) -> None:
        """Deliver one batch all-or-nothing; raise SinkError if it was not accepted."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...


class SinkBase:
    """Context-manager behaviour shared by the sinks."""

    name: str
    max_batch: int | None = None

    def close(self) -> None:
        """Nothing to release by default."""

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


SHOWN = 5
"""How many problems a refused batch names before saying how many more there are."""


def result_label(result: LearningResult) -> str:
    """``E1 in course 101``: a result as a sink's error names it (the LMS id when no HR key)."""
    return f"{result.hr_key or result.lms_user_id or '?'} in course {result.course_id or '?'}"


def listed(what: str, items: Sequence[str]) -> str:
    """``2 result(s) ...: a; b``: the first ``SHOWN`` items, then how many more."""
    shown = "; ".join(items[:SHOWN])
    more = f" (and {len(items) - SHOWN} more)" if len(items) > SHOWN else ""
    return f"{len(items)} {what}: {shown}{more}"
