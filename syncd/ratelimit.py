"""Rate limiting per vendor credential, shared by every process that uses the credential.

Each credential has several limits at once (TalentLMS: 2,000 an hour and 200 per
5 s; HowNow: 50 a minute and 3,000 an hour), given as ``(limit, window_seconds)``
already reduced by the configuration's safety margin. The limiter keeps a log of
the calls made and admits a call only while every window, slid over the log,
still has room: unlike a token bucket, a sliding log never lets two bursts meet
at a window's edge, whether the vendor counts in fixed or rolling windows.

A call is logged at the latest moment it can reach the vendor: while it is in
flight that is "now + in_flight" (so a crashed process never under-counts), and
once answered it is the answer's time. Network latency therefore never makes the
vendor see more calls in a window than the limit.

The log lives in the state store (``rate_limit_calls``), with one ``rate_limits``
row per credential locked while a call is admitted (``SELECT ... FOR UPDATE`` on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite): processes and replicas on one store
share the budget. ``MemoryBackend`` has the same semantics inside one process.
On PostgreSQL the database's clock is used, so replicas on different hosts agree.

Beyond the windows:

- a 429 pauses the credential for everyone: ``Retry-After`` when sent, else a
  jittered exponential backoff (5 s doubling to 5 minutes);
- ``X-RateLimit-Remaining`` lower than our own count (another client shares the
  key) is followed: the difference is logged as calls of that window;
- priorities: a lower priority leaves a reserve share of every window unused, so
  leavers' deactivations get through before other writes, and writes before pulls.

Why not pyrate-limiter: its SQLite and PostgreSQL buckets share several rates per
key across processes, but it has no notion of a call in flight (a crash would
under-count), of priorities with reserves, of a pause every process honours after
a 429, or of following the vendor's ``X-RateLimit-Remaining``; wrapping it would
have meant a second log beside its own. Retries do use a library (tenacity).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from enum import IntEnum
from typing import Protocol

import structlog
from sqlalchemy import Connection, Engine, case, delete, func, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from syncd.shutdown import raise_if_stopping
from syncd.state.tables import rate_limit_calls, rate_limits
from syncd.vendors.base import UnreachableError

log = structlog.get_logger(__name__)


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
    """``Retry-After`` as seconds from now (a number of seconds or an HTTP date), else None."""
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
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        reference = time.time() if now is None else now
        seconds = moment.timestamp() - reference
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
    def from_response(cls, status: int | None, headers: Mapping[str, str] | None) -> VendorSignal:
        if headers is None:
            return cls(status)
        named = {str(k).lower(): v for k, v in headers.items()}
        retry_after = retry_after_seconds(named.get("retry-after")) if status == 429 else None
        return cls(
            status=status,
            retry_after=retry_after,
            limit=_leading_int(named.get("x-ratelimit-limit")),
            remaining=_leading_int(named.get("x-ratelimit-remaining")),
        )


# ---------------------------------------------------------------------------------------------
# The policy and the decision, shared by both backends


@dataclass(frozen=True, slots=True)
class LimitPolicy:
    """Everything a backend needs to admit a call for one credential."""

    windows: tuple[Window, ...]
    reserve: Mapping[Priority, float] = field(default_factory=lambda: dict(DEFAULT_RESERVE))
    in_flight: float = 120.0  # the longest a request may take to reach the vendor
    backoff_initial: float = 5.0
    backoff_max: float = 300.0

    @property
    def longest(self) -> float:
        return max((w.seconds for w in self.windows), default=0.0)

    def room(self, window: Window, priority: Priority) -> int:
        """How many calls ``priority`` may have in ``window`` (it leaves its reserve share)."""
        share = min(max(self.reserve.get(priority, 0.0), 0.0), 1.0)
        return math.ceil(window.limit * (1.0 - share) - 1e-9)

    def backoff(self, strikes: int, rng: Callable[[], float] = random.random) -> float:
        """Pause after the ``strikes``-th 429 in a row without Retry-After: 5, 10, 20 ... 300 s."""
        base = min(self.backoff_max, self.backoff_initial * 2 ** max(0, strikes - 1))
        return min(self.backoff_max, base * (1.0 + 0.2 * rng()))


class _Log(Protocol):
    """The call log of one credential as a backend sees it inside its lock."""

    def used(self, windows: Sequence[Window]) -> list[int]: ...

    def oldest(self, window: Window, count: int) -> list[tuple[float, int]]: ...


def _wait_needed(
    now: float, policy: LimitPolicy, priority: Priority, paused_until: float, calls: _Log
) -> float:
    """0 when a call of ``priority`` may go now, else seconds until it may."""
    wait = max(0.0, paused_until - now)
    if not policy.windows:
        return wait
    for window, used in zip(policy.windows, calls.used(policy.windows), strict=True):
        room = policy.room(window, priority)
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


def _learned_calls(
    policy: LimitPolicy, signal: VendorSignal, calls: _Log
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
    """What a backend did with a call's answer (for logs)."""

    paused_for: float = 0.0  # seconds the credential is now paused, 0 if not
    strikes: int = 0
    learned: tuple[Window, int] | None = None


@dataclass(frozen=True, slots=True)
class WindowUsage:
    window: Window
    used: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """How a credential stands now (for ``/status`` and tests)."""

    windows: tuple[WindowUsage, ...]
    paused_until: float
    strikes: int
    now: float

    @property
    def paused_for(self) -> float:
        return max(0.0, self.paused_until - self.now)


class LimitBackend(Protocol):
    """Where the call log lives: this process (``MemoryBackend``) or the store (``SqlBackend``)."""

    def acquire(self, credential: str, policy: LimitPolicy, priority: Priority) -> Grant | float:
        """Log a call and return its grant, or the seconds to wait before asking again."""
        ...

    def finish(
        self,
        credential: str,
        policy: LimitPolicy,
        grant: Grant,
        elapsed: float,
        signal: VendorSignal,
        rng: Callable[[], float],
    ) -> Finished:
        """Record a call's end (``elapsed`` seconds after its grant) and what the vendor said."""
        ...

    def snapshot(self, credential: str, policy: LimitPolicy) -> Snapshot: ...

    def wait_for_change(self, timeout: float) -> None:
        """Sleep up to ``timeout``, waking early when a call of this process finishes."""
        ...


class _Wakeups:
    """Lets waiters of this process re-check as soon as one of its calls finishes."""

    def __init__(self) -> None:
        self._changed = threading.Condition()

    def wait_for_change(self, timeout: float) -> None:
        with self._changed:
            self._changed.wait(timeout)

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()


def _pause_after_429(
    now: float,
    grant: Grant,
    signal: VendorSignal,
    policy: LimitPolicy,
    paused_until: float,
    paused_at: float,
    strikes: int,
    rng: Callable[[], float],
) -> tuple[float, float, int, float]:
    """New (paused_until, paused_at, strikes, pause seconds) after a 429.

    Calls already in flight when a pause began answer 429 too; they belong to the
    same burst and do not double the backoff again.
    """
    if grant.granted_at > paused_at or paused_until <= now:
        strikes += 1
    delay = (
        signal.retry_after
        if signal.retry_after is not None
        else policy.backoff(max(strikes, 1), rng)
    )
    until = now + delay
    if until > paused_until:
        return until, now, strikes, delay
    return paused_until, paused_at, strikes, paused_until - now


# ---------------------------------------------------------------------------------------------
# In-memory backend


@dataclass(slots=True)
class _Call:
    id: int
    at: float
    weight: int = 1
    window_seconds: float | None = None


@dataclass(slots=True)
class _MemoryCredential:
    calls: list[_Call] = field(default_factory=list)
    paused_until: float = 0.0
    paused_at: float = 0.0
    strikes: int = 0


class _MemoryLog:
    def __init__(self, state: _MemoryCredential, now: float) -> None:
        self._state = state
        self._now = now

    def _counts(self, call: _Call, window: Window) -> bool:
        return call.at > self._now - window.seconds and call.window_seconds in (
            None,
            window.seconds,
        )

    def used(self, windows: Sequence[Window]) -> list[int]:
        return [sum(c.weight for c in self._state.calls if self._counts(c, w)) for w in windows]

    def oldest(self, window: Window, count: int) -> list[tuple[float, int]]:
        mine = sorted((c for c in self._state.calls if self._counts(c, window)), key=lambda c: c.at)
        return [(c.at, c.weight) for c in mine[:count]]


class MemoryBackend(_Wakeups):
    """The call log in this process only: for tests, the demo and single-process runs."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self._clock = clock
        self._lock = threading.Lock()
        self._credentials: dict[str, _MemoryCredential] = {}
        self._ids = itertools.count(1)

    def _state(self, credential: str, policy: LimitPolicy, now: float) -> _MemoryCredential:
        state = self._credentials.setdefault(credential, _MemoryCredential())
        horizon = now - policy.longest
        state.calls = [c for c in state.calls if c.at > horizon]
        return state

    def acquire(self, credential: str, policy: LimitPolicy, priority: Priority) -> Grant | float:
        with self._lock:
            now = self._clock()
            state = self._state(credential, policy, now)
            wait = _wait_needed(now, policy, priority, state.paused_until, _MemoryLog(state, now))
            if wait > 0:
                return wait
            grant = Grant(next(self._ids), now)
            state.calls.append(_Call(grant.id, now + policy.in_flight))
            return grant

    def finish(
        self,
        credential: str,
        policy: LimitPolicy,
        grant: Grant,
        elapsed: float,
        signal: VendorSignal,
        rng: Callable[[], float] = random.random,
    ) -> Finished:
        with self._lock:
            now = self._clock()
            state = self._state(credential, policy, now)
            for call in state.calls:
                if call.id == grant.id:
                    call.at = grant.granted_at + max(0.0, elapsed)
                    break
            result = Finished(strikes=state.strikes)
            if signal.status == 429:
                state.paused_until, state.paused_at, state.strikes, pause = _pause_after_429(
                    now,
                    grant,
                    signal,
                    policy,
                    state.paused_until,
                    state.paused_at,
                    state.strikes,
                    rng,
                )
                result = Finished(paused_for=pause, strikes=state.strikes)
            elif signal.status is not None and grant.granted_at > state.paused_at:
                state.strikes = 0
            learned = _learned_calls(policy, signal, _MemoryLog(state, now))
            if learned is not None:
                window, extra = learned
                state.calls.append(_Call(next(self._ids), now, extra, window.seconds))
                result = Finished(result.paused_for, result.strikes, learned)
        self._notify()
        return result

    def snapshot(self, credential: str, policy: LimitPolicy) -> Snapshot:
        with self._lock:
            now = self._clock()
            state = self._state(credential, policy, now)
            used = _MemoryLog(state, now).used(policy.windows)
            return Snapshot(
                tuple(WindowUsage(w, u) for w, u in zip(policy.windows, used, strict=True)),
                state.paused_until,
                state.strikes,
                now,
            )


# ---------------------------------------------------------------------------------------------
# State-store backend


class _SqlLog:
    def __init__(self, conn: Connection, credential: str, now: float) -> None:
        self._conn = conn
        self._credential = credential
        self._now = now

    def _in(self, window: Window):
        calls = rate_limit_calls.c
        return (calls.at > self._now - window.seconds) & or_(
            calls.window_seconds.is_(None), calls.window_seconds == window.seconds
        )

    def used(self, windows: Sequence[Window]) -> list[int]:
        if not windows:
            return []
        calls = rate_limit_calls.c
        sums = [
            func.coalesce(func.sum(case((self._in(w), calls.weight), else_=0)), 0) for w in windows
        ]
        since = self._now - max(w.seconds for w in windows)
        row = self._conn.execute(
            select(*sums).where(calls.credential == self._credential, calls.at > since)
        ).one()
        return [int(value) for value in row]

    def oldest(self, window: Window, count: int) -> list[tuple[float, int]]:
        calls = rate_limit_calls.c
        rows = self._conn.execute(
            select(calls.at, calls.weight)
            .where(calls.credential == self._credential, self._in(window))
            .order_by(calls.at)
            .limit(count)
        )
        return [(float(at), int(weight)) for at, weight in rows]


class SqlBackend(_Wakeups):
    """The call log in the state store: every process on one database shares each budget.

    Each admission is one short transaction holding the credential's row lock. The
    clock is PostgreSQL's own (``clock_timestamp()``) so replicas on different hosts
    agree; SQLite is one machine, whose clock every process shares. ``clock`` overrides
    both (tests).
    """

    def __init__(self, engine: Engine, clock: Callable[[], float] | None = None) -> None:
        super().__init__()
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        self._clock = clock

    def _now(self, conn: Connection) -> float:
        if self._clock is not None:
            return self._clock()
        if self._sqlite:
            return time.time()
        return float(
            conn.execute(text("SELECT EXTRACT(EPOCH FROM clock_timestamp())")).scalar_one()
        )

    @contextmanager
    def _locked(self, credential: str) -> Iterator[tuple[Connection, dict]]:
        """One transaction holding ``credential``'s row: the only writer of its log meanwhile."""
        if self._sqlite:
            with self._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                try:
                    conn.execute(
                        sqlite_insert(rate_limits)
                        .values(credential=credential)
                        .on_conflict_do_nothing()
                    )
                    row = conn.execute(
                        select(rate_limits).where(rate_limits.c.credential == credential)
                    ).one()
                    yield conn, dict(row._mapping)
                except BaseException:
                    conn.exec_driver_sql("ROLLBACK")
                    raise
                conn.exec_driver_sql("COMMIT")
            return
        with self._engine.begin() as conn:
            query = (
                select(rate_limits).where(rate_limits.c.credential == credential).with_for_update()
            )
            row = conn.execute(query).first()
            if row is None:
                conn.execute(
                    pg_insert(rate_limits).values(credential=credential).on_conflict_do_nothing()
                )
                row = conn.execute(query).one()
            yield conn, dict(row._mapping)

    def acquire(self, credential: str, policy: LimitPolicy, priority: Priority) -> Grant | float:
        with self._locked(credential) as (conn, state):
            now = self._now(conn)
            horizon = max(float(state["horizon"]), policy.longest)
            if horizon > state["horizon"]:
                conn.execute(
                    update(rate_limits)
                    .where(rate_limits.c.credential == credential)
                    .values(horizon=horizon)
                )
            conn.execute(
                delete(rate_limit_calls).where(
                    rate_limit_calls.c.credential == credential,
                    rate_limit_calls.c.at <= now - horizon,
                )
            )
            calls = _SqlLog(conn, credential, now)
            wait = _wait_needed(now, policy, priority, float(state["paused_until"]), calls)
            if wait > 0:
                return wait
            result = conn.execute(
                insert(rate_limit_calls).values(
                    credential=credential, at=now + policy.in_flight, weight=1
                )
            )
            return Grant(int(result.inserted_primary_key[0]), now)

    def finish(
        self,
        credential: str,
        policy: LimitPolicy,
        grant: Grant,
        elapsed: float,
        signal: VendorSignal,
        rng: Callable[[], float] = random.random,
    ) -> Finished:
        with self._locked(credential) as (conn, state):
            now = self._now(conn)
            conn.execute(
                update(rate_limit_calls)
                .where(rate_limit_calls.c.id == grant.id)
                .values(at=grant.granted_at + max(0.0, elapsed))
            )
            strikes = int(state["strikes"])
            result = Finished(strikes=strikes)
            changes: dict[str, float | int] = {}
            if signal.status == 429:
                paused_until, paused_at, strikes, pause = _pause_after_429(
                    now,
                    grant,
                    signal,
                    policy,
                    float(state["paused_until"]),
                    float(state["paused_at"]),
                    strikes,
                    rng,
                )
                changes = {"paused_until": paused_until, "paused_at": paused_at, "strikes": strikes}
                result = Finished(paused_for=pause, strikes=strikes)
            elif signal.status is not None and strikes and grant.granted_at > state["paused_at"]:
                changes = {"strikes": 0}
            if changes:
                conn.execute(
                    update(rate_limits)
                    .where(rate_limits.c.credential == credential)
                    .values(**changes)
                )
            learned = _learned_calls(policy, signal, _SqlLog(conn, credential, now))
            if learned is not None:
                window, extra = learned
                conn.execute(
                    insert(rate_limit_calls).values(
                        credential=credential, at=now, weight=extra, window_seconds=window.seconds
                    )
                )
                result = Finished(result.paused_for, result.strikes, learned)
        self._notify()
        return result

    def snapshot(self, credential: str, policy: LimitPolicy) -> Snapshot:
        with self._engine.connect() as conn:
            now = self._now(conn)
            row = conn.execute(
                select(rate_limits.c.paused_until, rate_limits.c.strikes).where(
                    rate_limits.c.credential == credential
                )
            ).first()
            used = _SqlLog(conn, credential, now).used(policy.windows)
        paused_until, strikes = (float(row[0]), int(row[1])) if row else (0.0, 0)
        return Snapshot(
            tuple(WindowUsage(w, u) for w, u in zip(policy.windows, used, strict=True)),
            paused_until,
            strikes,
            now,
        )


_PROCESS_MEMORY = MemoryBackend()
"""Used when no backend is given: every limiter of the process meets here."""


# ---------------------------------------------------------------------------------------------
# The limiter callers use


class RateLimitTimeout(UnreachableError):
    """A call would have waited longer than its caller allows for the rate limit."""


class RateLimiter:
    """The budget of one credential: ``acquire`` before each call, ``Permit.finish`` after it.

    ``sleep`` and ``monotonic`` can be injected (tests with a fake clock; a daemon
    whose sleep raises on shutdown). Without ``sleep``, waiters also wake as soon
    as a call of this process finishes.
    """

    def __init__(
        self,
        credential: str,
        windows: Iterable[Window | tuple[int, float]],
        *,
        backend: LimitBackend | None = None,
        name: str = "",
        reserve: Mapping[Priority, float] = DEFAULT_RESERVE,
        in_flight: float = 120.0,
        backoff_initial: float = 5.0,
        backoff_max: float = 300.0,
        max_sleep: float | None = None,
        sleep: Callable[[float], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.credential = credential
        self.name = name or credential[:12]
        self.policy = LimitPolicy(
            as_windows(windows), dict(reserve), in_flight, backoff_initial, backoff_max
        )
        self.backend: LimitBackend = backend if backend is not None else _PROCESS_MEMORY
        shortest = min((w.seconds for w in self.policy.windows), default=10.0)
        self._max_sleep = max_sleep if max_sleep is not None else min(1.0, shortest / 10)
        self._sleep = sleep
        self._monotonic = monotonic
        self._rng = rng

    def acquire(
        self, priority: Priority = Priority.WRITE, *, max_wait: float | None = None
    ) -> Permit:
        """Wait until a call of ``priority`` may go, log it, and return its permit.

        Raises ``RateLimitTimeout`` when that would take longer than ``max_wait`` seconds.
        """
        started = self._monotonic()
        while True:
            # Taken before asking: the call's end is then never logged earlier than it was.
            asked = self._monotonic()
            result = self.backend.acquire(self.credential, self.policy, priority)
            waited = self._monotonic() - started
            if isinstance(result, Grant):
                if waited >= 1.0:
                    log.info(
                        "rate_limit_wait",
                        limiter=self.name,
                        priority=priority.name,
                        wait_ms=round(waited * 1000),
                    )
                return Permit(self, result, priority, waited, asked)
            if max_wait is not None and waited + result > max_wait:
                raise RateLimitTimeout(
                    f"{self.name}: the rate limit would hold this call more than {max_wait:g}s"
                )
            nap = min(result, self._max_sleep)
            if self._sleep is not None:
                self._sleep(nap)
            else:
                self.backend.wait_for_change(nap)
            raise_if_stopping()  # a stopping process does not sit out a long pause

    def snapshot(self) -> Snapshot:
        return self.backend.snapshot(self.credential, self.policy)

    def _finish(self, permit: Permit, signal: VendorSignal) -> Finished:
        elapsed = self._monotonic() - permit.started
        done = self.backend.finish(
            self.credential, self.policy, permit.grant, elapsed, signal, self._rng
        )
        if done.paused_for > 0:
            log.warning(
                "rate_limit_paused",
                limiter=self.name,
                pause_ms=round(done.paused_for * 1000),
                retry_after=signal.retry_after is not None,
                strikes=done.strikes,
            )
        if done.learned is not None:
            window, extra = done.learned
            log.info(
                "rate_limit_learned",
                limiter=self.name,
                window=window.label,
                vendor_limit=signal.limit,
                vendor_remaining=signal.remaining,
                added=extra,
            )
        return done


@dataclass(slots=True)
class Permit:
    """One admitted call. ``finish`` it exactly once, with the answer or with None."""

    limiter: RateLimiter
    grant: Grant
    priority: Priority
    waited: float  # seconds spent waiting for the rate limit
    started: float  # limiter's monotonic clock when the admitting request began
    done: Finished | None = None

    def finish(self, status: int | None, headers: Mapping[str, str] | None = None) -> Finished:
        """Record the answer: settles the call's time, pauses on 429, learns from headers."""
        if self.done is None:
            self.done = self.limiter._finish(self, VendorSignal.from_response(status, headers))
        return self.done
