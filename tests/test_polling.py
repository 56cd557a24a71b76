"""The one job-waiting loop: rounds a pause apart, a busy round followed at once, and a read
in bulk that spares the jobs it settled (or looked at) from being polled one by one.

The clock is fake: a poll takes the time the test says it takes (as a rate-limited call
would), and pauses only move the clock.
"""

from __future__ import annotations

import threading

from syncd.polling import Backoff, BulkRound, WaitEnd, wait_for_jobs


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(round(seconds, 6))
        self.now += seconds


def test_a_round_slowed_by_its_polls_is_followed_at_once_by_the_next():
    clock = Clock()
    polls: list[tuple[float, str]] = []
    ends = {"a": 3, "b": 4}  # each job ends at its nth poll

    def finished(job: str) -> bool:
        polls.append((clock.now, job))
        clock.now += 0.75  # each poll waits for the rate limit
        return sum(1 for _, j in polls if j == job) >= ends[job]

    waited = wait_for_jobs(
        ["a", "b"],
        finished,
        Backoff(first_delay=1.0, max_delay=8.0, timeout=60.0),
        sleep=clock.sleep,
        clock=clock.time,
        stop=threading.Event(),
    )
    assert waited.end is WaitEnd.FINISHED and waited.running == []
    # Each round takes 1.5 s (two polls). The first outlasts its 1 s pause: the second
    # round starts at once; the next rounds rest only what is left of 2 s and 4 s.
    assert clock.pauses == [0.5, 2.5]
    assert [job for _, job in polls] == ["a", "b", "a", "b", "a", "b", "b"]


def test_a_round_as_long_as_the_pause_pauses_no_more():
    clock = Clock()

    def finished(job: str) -> bool:
        clock.now += 2.0
        return clock.now > 9.0

    wait_for_jobs(
        ["only"],
        finished,
        Backoff(first_delay=1.0, max_delay=2.0, timeout=60.0),
        sleep=clock.sleep,
        clock=clock.time,
        stop=threading.Event(),
    )
    assert clock.pauses == []  # every round took longer than its pause: none idled


def test_jobs_a_read_in_bulk_settled_or_looked_at_are_not_polled_that_round():
    clock = Clock()
    polled: list[tuple[int, str]] = []
    rounds = [0]
    asked: list[list[str]] = []

    def in_bulk(running: list[str]) -> BulkRound[str]:
        rounds[0] += 1
        asked.append(list(running))
        if rounds[0] == 1:  # the read settles a, and found b not yet applied
            return BulkRound(frozenset({"a"}), frozenset({"b"}))
        return BulkRound()  # too few left to be worth a read: poll them

    def finished(job: str) -> bool:
        polled.append((rounds[0], job))
        return True

    waited = wait_for_jobs(
        ["a", "b", "c"],
        finished,
        Backoff(first_delay=1.0, max_delay=1.0, timeout=60.0),
        in_bulk=in_bulk,
        sleep=clock.sleep,
        clock=clock.time,
        stop=threading.Event(),
    )
    assert waited.end is WaitEnd.FINISHED
    assert asked == [["a", "b", "c"], ["b"]]
    assert polled == [(1, "c"), (2, "b")]
