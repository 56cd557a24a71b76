"""The accidental-deprovisioning guard (SPEC §6). Pure."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from syncd.model import Operation

DEFAULT_THRESHOLD = "10%"


@dataclass(frozen=True, slots=True)
class Threshold:
    """At most ``percent`` of linked users, or at most ``absolute`` users, per run."""

    percent: float | None = None
    absolute: int | None = None

    @classmethod
    def parse(cls, value: str | int | None) -> Threshold:
        if value is None:
            value = DEFAULT_THRESHOLD
        if isinstance(value, int):
            if value < 0:
                raise ValueError("max_deactivations must not be negative")
            return cls(absolute=value)
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%\s*", value)
        if match:
            return cls(percent=float(match.group(1)))
        if value.strip().isdigit():
            return cls(absolute=int(value))
        raise ValueError(
            f"max_deactivations must be a percentage like 5% or a number, not {value!r}"
        )

    def limit(self, linked: int) -> int:
        if self.absolute is not None:
            return self.absolute
        assert self.percent is not None
        return int(linked * self.percent / 100)

    def __str__(self) -> str:
        return f"{self.absolute}" if self.absolute is not None else f"{self.percent:g}%"


@dataclass(frozen=True, slots=True)
class GuardVerdict:
    tripped: bool
    deprovisions: int
    linked: int
    limit: int
    reason: str = ""


def check(ops: Iterable[Operation], linked: int, threshold: Threshold) -> GuardVerdict:
    """Whether the plan's deactivations and deletes exceed the threshold of linked users."""
    count = sum(1 for op in ops if op.kind.is_deprovision)
    limit = threshold.limit(linked)
    if count <= limit or count == 0:
        return GuardVerdict(False, count, linked, limit)
    reason = (
        f"the plan deactivates or deletes {count} of {linked} linked users, more than the "
        f"guard allows ({threshold} = {limit}); check the HR source, then run "
        f"`syncd approve` to let this run go ahead once, or raise guard.max_deactivations"
    )
    return GuardVerdict(True, count, linked, limit, reason)
