"""Every connector's push, pull and reconciliation on its schedule (APScheduler 3 threads).

Each connector and direction is one job: ``max_instances=1`` so a slow cycle is never
overlapped by its own next run, ``coalesce`` so runs missed while busy collapse into
one. A cycle starts at once when the daemon starts, then follows the schedule.
Across replicas the engines' connector leases make sure one process runs a cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from syncd.config import Config, ConnectorConfig
from syncd.daemon.cycles import CycleRunner
from syncd.state import store

log = structlog.get_logger(__name__)

MAX_PARALLEL_CYCLES = 8
"""Cycles of different connectors run side by side, up to this many at once."""


def build_scheduler(config: Config, runner: CycleRunner) -> BackgroundScheduler:
    """A scheduler (not yet started) with one job per active connector and direction."""
    active = [c for c in config.connectors if not c.paused]
    workers = max(1, min(MAX_PARALLEL_CYCLES, 2 * len(active)))
    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(workers)},
        job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
        timezone=UTC,
    )
    now = datetime.now(UTC)
    for connector in active:
        _add(scheduler, connector, "push", runner.push, now)
        if connector.pull is not None:
            _add(scheduler, connector, "pull", runner.pull, now)
        if connector.reconcile is not None and connector.reconcile.schedule is not None:
            # Not at start-up: it would only meet the push that starts then (one lease).
            _add(scheduler, connector, "reconcile", runner.reconcile, None)
    return scheduler


def _add(
    scheduler: BackgroundScheduler,
    connector: ConnectorConfig,
    direction: str,
    cycle: Callable,
    first_run: datetime | None,
) -> None:
    schedule = connector.schedule
    if direction == "pull" and connector.pull is not None and connector.pull.schedule:
        schedule = connector.pull.schedule
    if direction == "reconcile" and connector.reconcile and connector.reconcile.schedule:
        schedule = connector.reconcile.schedule
    job_id = f"{connector.name}:{direction}"

    def next_run() -> datetime | None:
        job = scheduler.get_job(job_id)
        return job.next_run_time if job is not None else None

    scheduler.add_job(
        cycle,
        trigger=schedule.trigger(),
        args=(connector.name, next_run),
        id=job_id,
        name=job_id,
        **({"next_run_time": first_run} if first_run is not None else {}),
    )


def record_schedule(scheduler: BackgroundScheduler, config: Config, engine) -> None:
    """Write each job's next run, and ``paused`` for paused connectors, to sync_status."""
    with engine.begin() as conn:
        for connector in config.connectors:
            directions = ["push"] + (["pull"] if connector.pull is not None else [])
            if connector.reconcile is not None and connector.reconcile.schedule is not None:
                directions.append("reconcile")
            for direction in directions:
                if connector.paused:
                    store.set_status(conn, connector.name, direction, state="paused")
                    continue
                job = scheduler.get_job(f"{connector.name}:{direction}")
                if job is not None:
                    store.set_status(conn, connector.name, direction, next_run_at=job.next_run_time)
    log.info(
        "schedule_ready",
        jobs=[job.id for job in scheduler.get_jobs()],
        paused=[c.name for c in config.connectors if c.paused],
    )
