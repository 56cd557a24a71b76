"""The rate limit one credential must stay under, as the configuration writes it."""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field, model_validator

from syncd.config.schema.durations import Duration
from syncd.config.schema.strict import Strict


class RateLimitConfig(Strict):
    """The limits one credential must stay under; syncd allows itself ``margin`` of each.

    The margin defaults to 1: the documented limit is used to the full, less the
    priority reserves (``syncd.limits.policy.DEFAULT_RESERVE``: writes leave 5 % of each
    window to leavers' deactivations, reads 10 %). Another client of the same key is
    noticed by the 429s it causes, which lower the limits for a while (the limiter's
    throttle); a lower margin keeps a fixed share back for it instead.
    """

    per_hour: int | None = Field(None, ge=1)
    per_minute: int | None = Field(None, ge=1)
    burst: int | None = Field(None, ge=1)
    burst_window: Duration | None = None
    margin: float = Field(1.0, gt=0, le=1)

    @model_validator(mode="after")
    def _consistent(self) -> RateLimitConfig:
        if self.burst is not None and self.burst_window is None:
            raise ValueError("burst needs burst_window (e.g. burst: 200, burst_window: 5s)")
        if self.burst_window is not None and self.burst is None:
            raise ValueError("burst_window is set but burst is not")
        if self.burst_window is not None and self.burst_window.total_seconds() <= 0:
            raise ValueError("burst_window must be longer than 0s")
        if self.per_hour is None and self.per_minute is None and self.burst is None:
            raise ValueError("set at least one of per_hour, per_minute, burst")
        return self

    def windows(self) -> list[tuple[int, float]]:
        """(calls allowed after the margin, window length in seconds), never below 1 call."""
        result: list[tuple[int, float]] = []
        if self.per_hour is not None:
            result.append((self._allowed(self.per_hour), 3600.0))
        if self.per_minute is not None:
            result.append((self._allowed(self.per_minute), 60.0))
        if self.burst is not None and self.burst_window is not None:
            result.append((self._allowed(self.burst), self.burst_window.total_seconds()))
        return result

    def _allowed(self, limit: int) -> int:
        return max(1, math.floor(limit * self.margin))


def merge_rate_limit(defaults: dict[str, Any]):
    """A before-validator: keys the user leaves out of ``rate_limit`` keep the vendor default.

    Raising the hourly figure for a bigger plan must not silently drop the documented
    burst ceiling; writing ``burst: null`` removes a default on purpose.
    """

    def merge(data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        given = data.get("rate_limit")
        if given is None:
            return {**data, "rate_limit": dict(defaults)}
        if isinstance(given, dict):
            return {**data, "rate_limit": {**defaults, **given}}
        return data

    return merge
