"""Bounded, jittered retries (tenacity) for every HTTP call syncd makes.

A call is a function of its attempt number that returns, raises ``Transient`` (a
passing fault: worth another attempt), or raises anything else (final). Waits
double from ``backoff_initial`` up to ``backoff_max``, half fixed and half random
("equal jitter"), and stretch to a server's ``Retry-After`` up to ``max_retry_after``.
What counts as passing is the caller's to say: a vendor call and an HR API call
read statuses differently.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard a call tries before giving up."""

    attempts: int = 5  # total tries, the first included
    backoff_initial: float = 0.5  # seconds before the 2nd attempt (at most); doubles each time
    backoff_max: float = 30.0  # cap of one backoff wait
    max_retry_after: float = 300.0  # a server's Retry-After is honoured up to this
    max_rate_limit_wait: float = 7200.0  # longest one call may wait on the rate limit

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Wait after try ``attempt`` failed: half fixed, half random, or the ``Retry-After``."""
        ceiling = min(self.backoff_max, self.backoff_initial * 2 ** (attempt - 1))
        jittered = ceiling / 2 + random.uniform(0, ceiling / 2)
        if retry_after is None:
            return jittered
        return max(jittered, min(retry_after, self.max_retry_after))


HR_API_RETRIES = RetryPolicy(max_retry_after=30.0)
"""HR sources and sinks: a ``Retry-After`` is honoured up to the longest backoff (30 s)."""


class Transient(Exception):
    """A failure worth another attempt."""

    def __init__(
        self,
        reason: str,
        *,
        retry_after: float | None = None,
        label: str = "",
        status: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.label = label or reason  # short and bounded: a metric label
        self.status = status


OnRetry = Callable[[Transient, int, float], None]
"""Told of each retry: the failure, the attempt that failed, and the seconds until the next."""


def call_with_retries(
    attempt: Callable[[int], T],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: OnRetry | None = None,
) -> T:
    """``attempt(n)`` for n = 1, 2 ... until it returns or fails for good.

    Raises the last ``Transient`` once ``policy.attempts`` are spent.
    """

    def wait(state: RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome else None
        retry_after = failure.retry_after if isinstance(failure, Transient) else None
        return policy.delay(state.attempt_number, retry_after)

    def before_sleep(state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        if on_retry is not None and isinstance(failure, Transient):
            pause = state.next_action.sleep if state.next_action else 0.0
            on_retry(failure, state.attempt_number, pause)

    retrying = Retrying(
        stop=stop_after_attempt(max(1, policy.attempts)),
        wait=wait,
        retry=retry_if_exception_type(Transient),
        sleep=sleep,
        reraise=True,
        before_sleep=before_sleep,
    )
    for trial in retrying:
        with trial:
            return attempt(trial.retry_state.attempt_number)
    raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover
