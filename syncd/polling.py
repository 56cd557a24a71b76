"""The one loop that waits for asynchronous jobs: TalentLMS tasks, HowNow jobs, anyone's.

A round asks about every job not yet finished; rounds start a pause apart, the
pause doubling up to a ceiling. A round slowed by the rate limit (each poll is a
call) counts towards that pause, so a busy round is followed at once by the next:
polls never leave the budget idle while jobs are unfinished. Where a vendor can
confirm many jobs with one read (a listing), a round may first try that: the jobs it
settles, and those it looked at in vain, are not polled one by one in that round.
The wait ends when every job has finished, when the deadline has passed, or at
once when the stop event is set (the process is stopping): the caller learns which
of the three it was and which jobs are still running, and decides what that means
(report, retry next cycle, refuse a batch).
It depends on nothing else in syncd but the stop signal, so vendors and the
engine share it without importing each other.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from syncd.shutdown import SHUTDOWN

JobId = TypeVar("JobId", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Backoff:
    """How patiently jobs are awaited: the first pause, its ceiling, and the deadline (s)."""

    first_delay: float
    max_delay: float
    timeout: float


class WaitEnd(StrEnum):
    FINISHED = "finished"  # every job has ended
    TIMED_OUT = "timed_out"  # the deadline passed first
    STOPPED = "stopped"  # the stop event was set


@dataclass(frozen=True, slots=True)
class BulkRound(Generic[JobId]):
    """What a read in bulk did for a round: the jobs it found ended, and those it looked at
    and found still running (neither is polled one by one in that round)."""

    ended: frozenset[JobId] = frozenset()
    looked_at: frozenset[JobId] = frozenset()


@dataclass(frozen=True, slots=True)
class Waited(Generic[JobId]):
    end: WaitEnd
    running: list[JobId]  # the jobs that had not finished, in the order given
    seconds: float  # how long the wait took


def wait_for_jobs(
    job_ids: Iterable[JobId],
    finished: Callable[[JobId], bool],
    backoff: Backoff,
    *,
    in_bulk: Callable[[list[JobId]], BulkRound[JobId]] | None = None,
    stop: threading.Event = SHUTDOWN,
    sleep: Callable[[float], object] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Waited[JobId]:
    """Poll ``finished(job_id)`` for each job still running until none is, or the wait ends.

    ``finished`` answers True once the job has ended (the caller keeps its answer);
    it is asked at most once per job and round. ``in_bulk``, when given, is asked
    first each round with the jobs still running. ``sleep`` defaults to waiting on
    ``stop``, so a pause ends the moment the process is asked to stop.
    """
    pause = sleep or stop.wait
    running = list(dict.fromkeys(job_ids))
    delay = backoff.first_delay
    started = clock()
    while True:
        round_started = clock()
        bulk: BulkRound[JobId] = in_bulk(running) if in_bulk and running else BulkRound()
        running = [
            job_id
            for job_id in running
            if job_id not in bulk.ended and (job_id in bulk.looked_at or not finished(job_id))
        ]
        if not running:
            return Waited(WaitEnd.FINISHED, [], clock() - started)
        if stop.is_set():
            return Waited(WaitEnd.STOPPED, running, clock() - started)
        if clock() - started > backoff.timeout:
            return Waited(WaitEnd.TIMED_OUT, running, clock() - started)
        rest = delay - (clock() - round_started)
        if rest > 0:
            pause(rest)
        delay = min(delay * 2, backoff.max_delay)
