"""The one loop that waits for asynchronous jobs: TalentLMS tasks, HowNow jobs, anyone's.

A round asks about every job not yet finished; between rounds the pause doubles
up to a ceiling. The wait ends when every job has finished, when the deadline
has passed, or at once when the stop event is set (the process is stopping):
the caller learns which of the three it was and which jobs are still running,
and decides what that means (report, retry next cycle, refuse a batch).
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
class Waited(Generic[JobId]):
    end: WaitEnd
    running: list[JobId]  # the jobs that had not finished, in the order given
    seconds: float  # how long the wait took


def wait_for_jobs(
    job_ids: Iterable[JobId],
    finished: Callable[[JobId], bool],
    backoff: Backoff,
    *,
    stop: threading.Event = SHUTDOWN,
    sleep: Callable[[float], object] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Waited[JobId]:
    """Poll ``finished(job_id)`` for each job still running until none is, or the wait ends.

    ``finished`` answers True once the job has ended (the caller keeps its answer);
    it is asked once per job and round. ``sleep`` defaults to waiting on ``stop``,
    so a pause ends the moment the process is asked to stop.
    """
    pause = sleep or stop.wait
    running = list(dict.fromkeys(job_ids))
    delay = backoff.first_delay
    started = clock()
    while True:
        running = [job_id for job_id in running if not finished(job_id)]
        if not running:
            return Waited(WaitEnd.FINISHED, [], clock() - started)
        if stop.is_set():
            return Waited(WaitEnd.STOPPED, running, clock() - started)
        if clock() - started > backoff.timeout:
            return Waited(WaitEnd.TIMED_OUT, running, clock() - started)
        pause(delay)
        delay = min(delay * 2, backoff.max_delay)
