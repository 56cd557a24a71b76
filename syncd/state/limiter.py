"""The rate-limit backend in the state store: every process on one database shares each budget.

The call log lives in ``rate_limit_calls``, with one ``rate_limits`` row per
credential locked while a call is admitted (``SELECT ... FOR UPDATE`` on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite): processes and replicas on one store
share the budget. On PostgreSQL the database's clock is used, so replicas on
different hosts agree. The decisions themselves are ``syncd.limits.policy``'s.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, case, delete, func, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from syncd.limits.backend import Wakeups
from syncd.limits.policy import (
    Finished,
    Grant,
    LimitPolicy,
    Priority,
    Snapshot,
    VendorSignal,
    Window,
    WindowUsage,
    learned_calls,
    pause_after_429,
    wait_needed,
)
from syncd.state.tables import rate_limit_calls, rate_limits


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


class SqlBackend(Wakeups):
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
            wait = wait_needed(now, policy, priority, float(state["paused_until"]), calls)
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
                paused_until, paused_at, strikes, pause = pause_after_429(
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
            learned = learned_calls(policy, signal, _SqlLog(conn, credential, now))
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
