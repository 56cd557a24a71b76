"""The rate limiter on its own: windows, in-flight calls, priorities, 429 pauses, learning.

Each behaviour runs on the in-memory backend and on the state store (SQLite and
PostgreSQL), with a fake clock so windows of seconds take no time. "Two
processes" are two limiters on two separate engines meeting in one database.
"""

from __future__ import annotations

from email.utils import formatdate

import pytest
from sqlalchemy import select

from syncd.limits import (
    MemoryBackend,
    Priority,
    RateLimiter,
    RateLimitTimeout,
    Window,
    credential_id,
    retry_after_seconds,
)
from syncd.state.db import make_engine
from syncd.state.limiter import SqlBackend
from syncd.state.migrate import upgrade
from syncd.state.tables import rate_limit_calls, rate_limits
from tests.support.limit_server import ideal_schedule

SECRET = "sk-live-0123456789abcdef"
CREDENTIAL = credential_id("talentlms", "https://acme.talentlms.com", SECRET)


class FakeClock:
    """Epoch seconds that only move when someone sleeps."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request):
    """A factory of backends that share one store: call it once per simulated process."""
    clock = FakeClock()
    if request.param == "memory":
        shared = MemoryBackend(clock=clock.time)
        yield clock, lambda: shared, None
        return
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    upgrade(url)
    engines = []

    def backend():
        engines.append(make_engine(url))
        return SqlBackend(engines[-1], clock=clock.time)

    yield clock, backend, url
    for engine in engines:
        engine.dispose()


def limiter(clock: FakeClock, backend, windows, **options) -> RateLimiter:
    return RateLimiter(
        CREDENTIAL,
        windows,
        backend=backend,
        name="test",
        sleep=clock.sleep,
        monotonic=clock.time,
        **options,
    )


def take(limiter_: RateLimiter, priority: Priority = Priority.DEPROVISION, status: int = 200):
    permit = limiter_.acquire(priority)
    permit.finish(status)
    return permit


def test_calls_go_exactly_as_early_as_every_window_allows(store):
    clock, backend, _ = store
    windows = [(5, 1.0), (8, 3.0)]
    limit = limiter(clock, backend(), windows)
    start = clock.now
    grants = []
    for _ in range(20):
        take(limit)
        grants.append(clock.now - start)
    assert grants == pytest.approx(ideal_schedule(20, windows), abs=1e-6)
    for window in (Window(5, 1.0), Window(8, 3.0)):
        for at in grants:
            in_window = [g for g in grants if at - window.seconds < g <= at]
            assert len(in_window) <= window.limit


def test_two_processes_on_one_store_share_the_budget(store):
    clock, backend, _ = store
    first, second = limiter(clock, backend(), [(6, 2.0)]), limiter(clock, backend(), [(6, 2.0)])
    start = clock.now
    for _ in range(3):
        take(first)
        take(second)
    assert clock.now == start  # six calls fit in the window
    take(second)
    assert clock.now - start == pytest.approx(2.0, abs=1e-6)  # the seventh waited for the first


def test_a_call_in_flight_counts_until_answered_and_is_forgotten_after_a_crash(store):
    clock, backend, _ = store
    limit = limiter(clock, backend(), [(2, 1.0)], in_flight=30.0)
    slow = limit.acquire(Priority.DEPROVISION)
    take(limit)
    clock.sleep(5.0)  # far beyond the window, but `slow` has not been answered
    assert limit.snapshot().windows[0].used == 1
    slow.finish(200)  # answered 5 s after its grant: it may have arrived just now
    assert limit.snapshot().windows[0].used == 1
    clock.sleep(1.0)
    assert limit.snapshot().windows[0].used == 0
    crashed = limit.acquire(Priority.DEPROVISION)  # its process dies: never finished
    assert crashed.grant.id
    take(limit)
    clock.sleep(29.0)
    assert limit.snapshot().windows[0].used == 1  # still counted: it could arrive late
    clock.sleep(2.0)
    assert limit.snapshot().windows[0].used == 0


def test_reads_leave_a_reserve_for_writes_and_writes_for_deactivations(store):
    clock, backend, _ = store
    reads, writes, leavers = (limiter(clock, backend(), [(20, 10.0)]) for _ in range(3))
    start = clock.now
    for _ in range(18):
        take(reads, Priority.READ)
    assert clock.now == start
    take(writes, Priority.WRITE)  # the 19th: reads may not take it, writes may
    take(leavers, Priority.DEPROVISION)  # the 20th: only a deactivation may
    assert clock.now == start
    take(reads, Priority.READ)  # reads wait until the window has 10 % free again
    assert clock.now - start == pytest.approx(10.0, abs=1e-6)


def test_a_429_pauses_every_process_for_its_retry_after(store):
    clock, backend, _ = store
    first, second = limiter(clock, backend(), [(100, 60.0)]), limiter(clock, backend(), [(100, 60)])
    start = clock.now
    first.acquire(Priority.WRITE).finish(429, {"Retry-After": "7"})
    take(second)
    assert clock.now - start == pytest.approx(7.0, abs=1e-6)


def test_without_retry_after_the_pause_doubles_from_5s_to_5_minutes(store):
    clock, backend, _ = store
    # rng at its top: every pause is 1.2 times its base
    limit = limiter(clock, backend(), [(1000, 3600.0)], rng=lambda: 1.0, max_sleep=60.0)
    pauses = []
    for _ in range(8):
        before = clock.now
        permit = limit.acquire(Priority.WRITE)
        pauses.append(clock.now - before)
        permit.finish(429)
    take(limit)
    assert limit.snapshot().strikes == 0  # the vendor answered again: backoff starts over
    assert pauses[1:] == pytest.approx([6.0, 12.0, 24.0, 48.0, 96.0, 192.0, 300.0], abs=0.2)


def test_429s_of_one_burst_double_the_pause_only_once(store):
    clock, backend, _ = store
    limit = limiter(clock, backend(), [(100, 60.0)], rng=lambda: 0.0)
    in_flight = [limit.acquire(Priority.WRITE) for _ in range(5)]
    for permit in in_flight:
        permit.finish(429)
    snapshot = limit.snapshot()
    assert snapshot.strikes == 1
    assert snapshot.paused_for == pytest.approx(5.0, abs=1e-6)


def test_a_lower_remaining_from_the_vendor_is_followed(store):
    clock, backend, _ = store
    # Our windows are the vendor's 100/min and 10/s reduced by a 0.9 margin.
    limit = limiter(clock, backend(), [(90, 60.0), (9, 1.0)])
    take(limit)
    # Another client of the same key used 59: the vendor says 40 of 100 remain.
    limit.acquire(Priority.DEPROVISION).finish(
        200, {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "40"}
    )
    minute, second = limit.snapshot().windows
    assert minute.used == 90 - 36  # 40 remaining, scaled by our margin, is 36
    assert second.used == 2  # the burst window is not charged for the other client's calls
    clock.sleep(0.5)
    limit.acquire(Priority.DEPROVISION).finish(
        200, {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "39"}
    )
    assert limit.snapshot().windows[0].used == 55  # agreeing headers add nothing


def effective(limiter_: RateLimiter) -> list[int]:
    return [limit for _window, limit in limiter_.snapshot().effective]


def test_an_unexpected_429_lowers_the_limits_for_every_process_then_they_grow_back(store):
    clock, backend, _ = store
    windows = [(40, 10.0), (400, 100.0)]
    first, second = (limiter(clock, backend(), windows, rng=lambda: 0.0) for _ in range(2))
    take(first)
    assert effective(second) == [40, 400]
    # Our count says 1 of 40: the vendor's 429 means someone else uses the key.
    done = first.acquire(Priority.WRITE).finish(429)
    assert done.lowered_to == pytest.approx(0.75)
    assert effective(second) == [30, 300]  # the other process runs at the lowered limits
    assert [limit for _w, limit in done.effective] == [30, 300]
    # Additive increase: 5 % of each limit back every shortest window (10 s).
    clock.sleep(10.0)
    assert effective(second) == [32, 320]
    clock.sleep(20.0)
    assert effective(first) == [36, 360]
    clock.sleep(20.0)
    assert effective(second) == [40, 400]
    clock.sleep(100.0)
    assert effective(second) == [40, 400]  # and no further


def test_the_lowered_limits_are_the_ones_calls_wait_for(store):
    clock, backend, _ = store
    limit = limiter(clock, backend(), [(20, 10.0)], rng=lambda: 0.0)
    limit.acquire(Priority.DEPROVISION).finish(429)  # lowered to 15 a window, paused 5 s
    clock.sleep(5.0)
    start = clock.now
    for _ in range(14):  # 15 with the refused call, which counts as the vendor saw it
        take(limit)
    assert clock.now == start
    take(limit)  # the 16th waits for the refused call to leave the window
    assert clock.now - start == pytest.approx(5.0, abs=1e-6)


def test_429s_of_one_burst_lower_the_limits_once_and_strikes_in_a_row_again(store):
    clock, backend, _ = store
    limit = limiter(clock, backend(), [(100, 60.0)], rng=lambda: 0.0, max_sleep=60.0)
    in_flight = [limit.acquire(Priority.WRITE) for _ in range(5)]
    for permit in in_flight:
        permit.finish(429)
    assert effective(limit) == [75]
    limit.acquire(Priority.WRITE).finish(429)  # after the pause, refused again: a new strike
    assert limit.snapshot().strikes == 2
    assert effective(limit) == [56]  # 0.75 x 0.75, the 10 s spent paused regained nothing yet
    for _ in range(20):  # answered at once, with no time to grow back in between
        limit.acquire(Priority.WRITE).finish(429, {"Retry-After": "0"})
    assert effective(limit) == [10]  # never below a tenth of the limit


def test_a_429_our_own_count_expected_leaves_the_limits_alone(store):
    clock, backend, _ = store
    limit = limiter(clock, backend(), [(10, 60.0)], rng=lambda: 0.0)
    for _ in range(9):
        take(limit)
    # The tenth call fills the window by our own count: a vendor counting its windows
    # a little differently may refuse it, and that says nothing of another client.
    done = limit.acquire(Priority.DEPROVISION).finish(429)
    assert done.paused_for > 0 and done.lowered_to is None
    assert effective(limit) == [10]


def test_a_caller_that_cannot_wait_that_long_is_told_so(store):
    clock, backend, _ = store
    limit = limiter(clock, backend(), [(1, 60.0)])
    take(limit)
    with pytest.raises(RateLimitTimeout, match="more than 5s"):
        limit.acquire(Priority.DEPROVISION, max_wait=5.0)


def test_the_store_holds_a_hash_of_the_credential_never_the_secret(store):
    clock, backend, url = store
    if url is None:
        pytest.skip("the in-memory backend writes nothing")
    limit = limiter(clock, backend(), [(10, 1.0)])
    for _ in range(3):
        take(limit)
    limit.acquire(Priority.WRITE).finish(429, {"Retry-After": "1"})
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = [*conn.execute(select(rate_limits)), *conn.execute(select(rate_limit_calls))]
    engine.dispose()
    assert len(rows) == 5
    assert SECRET not in repr(rows)
    assert {row.credential for row in rows} == {CREDENTIAL}
    assert len(CREDENTIAL) == 64 and SECRET not in CREDENTIAL


def test_credential_ids_differ_by_vendor_url_and_secret():
    ids = {
        credential_id("talentlms", "https://a.talentlms.com", "k1"),
        credential_id("talentlms", "https://a.talentlms.com/", "k2"),
        credential_id("talentlms", "https://b.talentlms.com", "k1"),
        credential_id("hownow", "https://a.talentlms.com", "k1"),
    }
    assert len(ids) == 4
    assert credential_id("x", "https://h/", "k") == credential_id("x", "https://h", "k")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("7", 7.0), (" 1.5 ", 1.5), ("-3", 0.0), ("soon", None), ("", None), (None, None)],
)
def test_retry_after_in_seconds(value, expected):
    assert retry_after_seconds(value) == expected


def test_retry_after_as_an_http_date():
    now = 1_800_000_000.0
    assert retry_after_seconds(formatdate(now + 120, usegmt=True), now=now) == 120.0
    assert retry_after_seconds(formatdate(now - 120, usegmt=True), now=now) == 0.0


def test_windows_must_make_sense():
    with pytest.raises(ValueError):
        Window(0, 5.0)
    with pytest.raises(ValueError):
        Window(10, 0)
