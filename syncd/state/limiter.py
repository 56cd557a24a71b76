"""The rate-limit backend in the state store: every process on one database shares each budget.

The call log lives in ``rate_limit_calls``, with one ``rate_limits`` row per
credential (its pause and throttle) locked while a call is admitted (``SELECT ... FOR UPDATE`` on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite): processes and replicas on one store
share the budget. On PostgreSQL the database's clock is used, so replicas on
different hosts agree. The decisions themselves are ``syncd.limits.policy``'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, case, delete, func, insert, or_, select, text, update

from syncd.limits.backend import Access, LimitBackend
from syncd.limits.policy import LimitPolicy, Pause, Throttle, Window
from syncd.state.db import dialect_insert
from syncd.state.tables import rate_limit_calls, rate_limits


class _SqlLog:
    """One credential's log, pause and throttle, inside the backend's transaction."""

    def __init__(
        self, conn: Connection, credential: str, now: float, state: Mapping[str, Any] | None
    ) -> None:
        self._conn = conn
        self._credential = credential
        self.now = now
        self.pause = _pause(state) if state is not None else Pause()
        self.throttle = _throttle(state) if state is not None else Throttle()

    def _in(self, window: Window):
        calls = rate_limit_calls.c
        return (calls.at > self.now - window.seconds) & or_(
            calls.window_seconds.is_(None), calls.window_seconds == window.seconds
        )

    def used(self, windows: Sequence[Window]) -> list[int]:
        if not windows:
            return []
        calls = rate_limit_calls.c
        sums = [
            func.coalesce(func.sum(case((self._in(w), calls.weight), else_=0)), 0) for w in windows
        ]
        since = self.now - max(w.seconds for w in windows)
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

    def add(self, at: float, weight: int = 1, window_seconds: float | None = None) -> int:
        result = self._conn.execute(
            insert(rate_limit_calls).values(
                credential=self._credential, at=at, weight=weight, window_seconds=window_seconds
            )
        )
        return int(result.inserted_primary_key[0])

    def settle(self, call_id: int, at: float) -> None:
        self._conn.execute(
            update(rate_limit_calls).where(rate_limit_calls.c.id == call_id).values(at=at)
        )

    def save(self, pause: Pause, throttle: Throttle) -> None:
        self._conn.execute(
            update(rate_limits)
            .where(rate_limits.c.credential == self._credential)
            .values(
                paused_until=pause.until,
                paused_at=pause.since,
                strikes=pause.strikes,
                scale=throttle.scale,
                scaled_at=throttle.since,
            )
        )


class SqlBackend(LimitBackend):
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
                        dialect_insert("sqlite")(rate_limits)
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
                    dialect_insert("postgresql")(rate_limits)
                    .values(credential=credential)
                    .on_conflict_do_nothing()
                )
                row = conn.execute(query).one()
            yield conn, dict(row._mapping)

    @contextmanager
    def _open(self, credential: str, policy: LimitPolicy, access: Access) -> Iterator[_SqlLog]:
        """Admitting and finishing hold the credential's row lock; admitting also drops the
        calls past the longest window any policy of the credential has used."""
        if access is Access.READ:
            with self._engine.connect() as conn:
                now = self._now(conn)
                row = conn.execute(
                    select(rate_limits).where(rate_limits.c.credential == credential)
                ).first()
                yield _SqlLog(conn, credential, now, row._mapping if row else None)
            return
        with self._locked(credential) as (conn, state):
            now = self._now(conn)
            if access is Access.ADMIT:
                self._forget_old_calls(conn, credential, policy, state, now)
            yield _SqlLog(conn, credential, now, state)

    def _forget_old_calls(
        self,
        conn: Connection,
        credential: str,
        policy: LimitPolicy,
        state: Mapping[str, Any],
        now: float,
    ) -> None:
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


def _pause(state: Mapping[str, Any]) -> Pause:
    """A ``rate_limits`` row's pause."""
    return Pause(float(state["paused_until"]), float(state["paused_at"]), int(state["strikes"]))


def _throttle(state: Mapping[str, Any]) -> Throttle:
    """A ``rate_limits`` row's throttle."""
    return Throttle(float(state["scale"]), float(state["scaled_at"]))
