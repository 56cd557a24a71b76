"""The rate-limit policy of one credential, as pure arithmetic: no I/O, no clock of its own.

Each credential has several limits at once (TalentLMS: 2,000 an hour and 200 per
5 s; HowNow: 50 a minute and 3,000 an hour), given as ``(limit, window_seconds)``
already reduced by the configuration's safety margin. A backend keeps a log of the
calls made and admits a call only while every window, slid over the log, still has
room: unlike a token bucket, a sliding log never lets two bursts meet at a window's
edge, whether the vendor counts in fixed or rolling windows.

A call is logged at the latest moment it can reach the vendor: while it is in
flight that is "now + in_flight" (so a crashed process never under-counts), and
once answered it is the answer's time. Network latency therefore never makes the
vendor see more calls in a window than the limit.

Beyond the windows:

- a 429 pauses the credential for everyone: ``Retry-After`` when sent, else a
  jittered exponential backoff (5 s doubling to 5 minutes);
- ``X-RateLimit-Remaining`` lower than our own count (another client shares the
  key) is followed: the difference is logged as calls of that window;
- priorities: a lower priority leaves a reserve share of every window unused, so
  leavers' deactivations get through before other writes, and writes before pulls;
- a 429 that our own count did not expect (every window had room: someone else uses
  the key, or the plan is smaller than configured) lowers the credential's effective
  limits by a factor (multiplicative decrease), and they grow back by a small share of
  each limit every shortest window (additive increase): the ``Throttle``.

Every function here is given the time it works with. ``syncd.limits.backend`` applies
them, once for every backend; the backends own the clocks and the storage
(``syncd.limits.memory``, ``syncd.state.limiter``), and the waiting loop lives in
``syncd.limits.limiter``.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC
from email.utils import parsedate_to_datetime
from enum import IntEnum
from typing import Protocol


class Priority(IntEnum):
    """Who goes first when the budget is short: lower values are more urgent."""

    DEPROVISION = 0  # leavers' deactivations and deletes
    WRITE = 1  # creates, updates, memberships, enrollments, job polls of a push
    READ = 2  # pulls and lookups


DEFAULT_RESERVE: Mapping[Priority, float] = {Priority.WRITE: 0.05, Priority.READ: 0.10}
"""Share of each window a priority must leave unused: reads stop at 90 % of a window,
writes at 95 %, deactivations may use all of it."""


@dataclass(frozen=True, slots=True)
class Window:
    """At most ``limit`` calls in any ``seconds``-long interval."""

    limit: int
    seconds: float

    def __post_init__(self) -> None:
        if self.limit < 1 or not self.seconds > 0:
            raise ValueError(f"a rate-limit window needs limit >= 1 and seconds > 0, not {self}")

    @property
    def label(self) -> str:
        return f"{self.limit}/{self.seconds:g}s"


def as_windows(windows: Iterable[Window | tuple[int, float]]) -> tuple[Window, ...]:
    """Windows from config pairs ``(limit, window_seconds)`` (as ``RateLimitConfig.windows()``)."""
    return tuple(w if isinstance(w, Window) else Window(int(w[0]), float(w[1])) for w in windows)


def credential_id(vendor: str, base_url: str, *secrets: str) -> str:
    """The key a credential's budget is shared under: a SHA-256 hex digest, never the secret.

    Processes configured with the same vendor, URL and secret meet on the same key.
    """
    digest = hashlib.sha256(b"syncd-rate-limit-v1")
    for part in (vendor, base_url.rstrip("/"), *secrets):
        digest.update(b"\0" + part.encode())
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# Reading what the vendor says


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from ``now`` (a number of seconds or an HTTP date), else None.

    The one reading of the header in syncd. An HTTP date needs ``now`` (epoch seconds,
    the caller's clock); without it a date reads as None.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if now is None:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = moment.timestamp() - now
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


def _leading_int(value: str | None) -> int | None:
    """``"100"`` or ``"100, 100;w=60"`` -> 100."""
    if value is None:
        return None
    head = value.split(",")[0].split(";")[0].strip()
    try:
        return int(float(head))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class VendorSignal:
    """What a response said about the rate limit (headers are optional everywhere)."""

    status: int | None  # None when no answer came (timeout, connection lost)
    retry_after: float | None = None  # seconds
    limit: int | None = None  # X-RateLimit-Limit
    remaining: int | None = None  # X-RateLimit-Remaining

    @classmethod
    def from_response(
        cls, status: int | None, headers: Mapping[str, str] | None, now: float
    ) -> VendorSignal:
        """The signal of an answer received at ``now`` (epoch seconds, for a dated Retry-After)."""
        if headers is None:
            return cls(status)
        named = {str(k).lower(): v for k, v in headers.items()}
        retry_after = retry_after_seconds(named.get("retry-after"), now) if status == 429 else None
        return cls(
            status=status,
            retry_after=retry_after,
            limit=_leading_int(named.get("x-ratelimit-limit")),
            remaining=_leading_int(named.get("x-ratelimit-remaining")),
        )


# ---------------------------------------------------------------------------------------------
# The policy and the decision, shared by every backend


@dataclass(frozen=True, slots=True)
class LimitPolicy:
    """Everything a backend needs to admit a call for one credential."""

    windows: tuple[Window, ...]
    reserve: Mapping[Priority, float] = field(default_factory=lambda: dict(DEFAULT_RESERVE))
    in_flight: float = 120.0  # the longest a request may take to reach the vendor
    backoff_initial: float = 5.0
    backoff_max: float = 300.0
    decrease: float = 0.75  # an unexpected 429 multiplies the effective limits by this
    recovery: float = 0.05  # share of each limit regained per shortest window afterwards
    floor: float = 0.1  # the effective limits never go below this share of the limits

    @property
    def longest(self) -> float:
        return max((w.seconds for w in self.windows), default=0.0)

    @property
    def shortest(self) -> float:
        return min((w.seconds for w in self.windows), default=0.0)

    def effective(self, window: Window, scale: float = 1.0) -> int:
        """``window``'s limit as the throttle's ``scale`` leaves it, never below one call."""
        return max(1, math.floor(window.limit * min(scale, 1.0) + 1e-9))

    def room(self, window: Window, priority: Priority, scale: float = 1.0) -> int:
        """How many calls ``priority`` may have in ``window`` (it leaves its reserve share)."""
        share = min(max(self.reserve.get(priority, 0.0), 0.0), 1.0)
        return math.ceil(self.effective(window, scale) * (1.0 - share) - 1e-9)

    def backoff(self, strikes: int, rng: Callable[[], float] = random.random) -> float:
        """Pause after the ``strikes``-th 429 in a row without Retry-After: 5, 10, 20 ... 300 s."""
        base = min(self.backoff_max, self.backoff_initial * 2 ** max(0, strikes - 1))
        return min(self.backoff_max, base * (1.0 + 0.2 * rng()))


class CallLog(Protocol):
    """The call log of one credential as a backend sees it inside its lock."""

    def used(self, windows: Sequence[Window]) -> list[int]: ...

    def oldest(self, window: Window, count: int) -> list[tuple[float, int]]: ...


def wait_needed(
    now: float,
    policy: LimitPolicy,
    priority: Priority,
    paused_until: float,
    calls: CallLog,
    scale: float = 1.0,
) -> float:
    """0 when a call of ``priority`` may go now, else seconds until it may.

    ``scale`` is the throttle's share of each limit at ``now`` (``Throttle.at``).
    """
    wait = max(0.0, paused_until - now)
    if not policy.windows:
        return wait
    for window, used in zip(policy.windows, calls.used(policy.windows), strict=True):
        room = policy.room(window, priority, scale)
        if used < room:
            continue
        excess = used - room + 1
        freed, ages_out = 0, now + window.seconds
        for at, weight in calls.oldest(window, excess):
            freed += weight
            ages_out = at + window.seconds
            if freed >= excess:
                break
        wait = max(wait, ages_out - now, 1e-6)
    return wait


def learned_calls(
    policy: LimitPolicy, signal: VendorSignal, calls: CallLog
) -> tuple[Window, int] | None:
    """Calls to add to a window so our remaining matches the vendor's lower ``remaining``.

    The vendor's figure is scaled by our margin (its limit versus ours) and applied
    to our window whose limit is nearest to the vendor's.
    """
    if not policy.windows or signal.limit is None or signal.remaining is None or signal.limit < 1:
        return None
    window = min(policy.windows, key=lambda w: abs(math.log(w.limit / signal.limit)))
    vendor_remaining = min(max(signal.remaining, 0), signal.limit)
    target = math.floor(vendor_remaining * min(1.0, window.limit / signal.limit))
    ours = window.limit - calls.used([window])[0]
    if target >= ours:
        return None
    return window, ours - target


@dataclass(frozen=True, slots=True)
class Grant:
    """A call admitted by a backend; ``granted_at`` is on the backend's clock."""

    id: int
    granted_at: float


@dataclass(frozen=True, slots=True)
class Finished:
    """What a backend did with a call's answer (for logs and metrics)."""

    paused_for: float = 0.0  # seconds the credential is now paused, 0 if not
    strikes: int = 0
    learned: tuple[Window, int] | None = None
    lowered_to: float | None = None  # the throttle's new scale when this answer lowered it
    effective: tuple[tuple[Window, int], ...] = ()  # each window's effective limit now


@dataclass(frozen=True, slots=True)
class WindowUsage:
    window: Window
    used: int


@dataclass(frozen=True, slots=True)
class Pause:
    """A credential's pause after 429s, as a backend keeps it between calls."""

    until: float = 0.0  # no call of the credential goes before this moment
    since: float = 0.0  # when it was set: calls granted earlier belong to the same burst
    strikes: int = 0  # 429s in a row, for the backoff


@dataclass(frozen=True, slots=True)
class Throttle:
    """How far below its limits a credential runs after 429s its own count did not expect.

    Someone else uses the key (or the plan is smaller than configured): each such 429
    multiplies the share of every limit allowed by ``policy.decrease`` (never below
    ``policy.floor``), and the share then grows back by ``policy.recovery`` every
    shortest window (additive increase, multiplicative decrease). Kept as the share
    right after the last decrease and its moment; the share now is computed (``at``).
    """

    scale: float = 1.0  # share of each limit allowed right after the last decrease
    since: float = 0.0  # when that decrease happened

    def at(self, now: float, policy: LimitPolicy) -> float:
        """The share of each limit allowed at ``now``."""
        if self.scale >= 1.0 or not policy.windows:
            return 1.0
        regained = policy.recovery * max(0.0, now - self.since) / policy.shortest
        return min(1.0, self.scale + regained)

    def lowered(self, now: float, policy: LimitPolicy) -> Throttle:
        return Throttle(max(policy.floor, self.at(now, policy) * policy.decrease), now)


def effective_limits(
    policy: LimitPolicy, throttle: Throttle, now: float
) -> tuple[tuple[Window, int], ...]:
    """Each window with the limit the throttle allows at ``now``."""
    scale = throttle.at(now, policy)
    return tuple((w, policy.effective(w, scale)) for w in policy.windows)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """How a credential stands now (for ``/status`` and tests)."""

    windows: tuple[WindowUsage, ...]
    paused_until: float
    strikes: int
    now: float
    effective: tuple[tuple[Window, int], ...] = ()  # each window's limit after the throttle

    @classmethod
    def of(
        cls,
        policy: LimitPolicy,
        used: Sequence[int],
        pause: Pause,
        now: float,
        throttle: Throttle = Throttle(),
    ) -> Snapshot:
        """The snapshot of a log whose windows hold ``used`` calls (in ``policy.windows`` order)."""
        usage = tuple(WindowUsage(w, u) for w, u in zip(policy.windows, used, strict=True))
        return cls(usage, pause.until, pause.strikes, now, effective_limits(policy, throttle, now))

    @property
    def paused_for(self) -> float:
        return max(0.0, self.paused_until - self.now)


def unexpected(policy: LimitPolicy, calls: CallLog) -> bool:
    """Whether a 429 now contradicts our own count: every window still had room."""
    used = calls.used(policy.windows)
    return bool(policy.windows) and all(
        u < w.limit for w, u in zip(policy.windows, used, strict=True)
    )


def after_answer(
    now: float,
    grant: Grant,
    signal: VendorSignal,
    policy: LimitPolicy,
    state: tuple[Pause, Throttle],
    calls: CallLog,
    rng: Callable[[], float],
) -> tuple[Pause, Throttle, Finished]:
    """The credential's pause and throttle once ``grant``'s call is answered, and what was
    decided.

    A 429 pauses the credential (never for less than it already is); any other answer
    to a call granted after the pause began ends the strikes. A 429 that starts a new
    strike while our count had room in every window lowers the throttle (once per
    burst, like the backoff). ``Finished.learned`` names the calls the backend adds to
    its log to follow a lower ``X-RateLimit-Remaining``.
    """
    pause, throttle = state
    lowered_to = None
    if signal.status == 429:
        strikes = pause.strikes
        # Calls already in flight when a pause began answer 429 too; they belong to the
        # same burst and do not double the backoff again.
        if grant.granted_at > pause.since or pause.until <= now:
            strikes += 1
            if unexpected(policy, calls):
                throttle = throttle.lowered(now, policy)
                lowered_to = throttle.scale
        paused_for = (
            signal.retry_after
            if signal.retry_after is not None
            else policy.backoff(max(strikes, 1), rng)
        )
        if now + paused_for > pause.until:
            pause = Pause(now + paused_for, now, strikes)
        else:
            pause, paused_for = replace(pause, strikes=strikes), pause.until - now
        result = Finished(paused_for, pause.strikes)
    else:
        result = Finished(strikes=pause.strikes)
        if signal.status is not None and grant.granted_at > pause.since:
            pause = replace(pause, strikes=0)
    result = replace(
        result,
        learned=learned_calls(policy, signal, calls),
        lowered_to=lowered_to,
        effective=effective_limits(policy, throttle, now),
    )
    return pause, throttle, result


def seconds_for(calls: int, policy: LimitPolicy, priority: Priority = Priority.WRITE) -> float:
    """The least time ``calls`` calls of ``priority`` take under ``policy``, from an unused budget.

    Each window lets ``room`` calls through and then the next ``room`` once the first
    have aged out of it, so the last call goes ``(calls - 1) // room`` windows after the
    first; the slowest window decides. The time the calls themselves take is not counted.
    """
    if calls <= 0:
        return 0.0
    return max(
        (((calls - 1) // policy.room(w, priority)) * w.seconds for w in policy.windows),
        default=0.0,
    )
