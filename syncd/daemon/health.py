"""What the daemon's endpoints say about it: alive, ready or degraded and why, and the gauges.

Liveness (``/healthz``) asks only what a restart can mend: the scheduler runs and the
state store answers. Readiness (``/readyz``, and ``/status``'s ``status``) also asks
what needs a person: a connector in quarantine (its cycles keep failing: a revoked
key, a vendor down), one stopped by its safety guard (``syncd approve``), one with
failed operations (``syncd errors``, ``syncd retry``). The gauges read the same
facts at each scrape, so ``/metrics`` says what ``syncd status`` says.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, text

from syncd.config import Config
from syncd.daemon.backoff import Failures, Quarantine
from syncd.logs import redactor
from syncd.metrics import GUARD_TRIPPED, LAST_SUCCESS, OPEN_ERRORS, QUARANTINED, record_pending
from syncd.state.status import open_error_counts, status_rows


@dataclass(slots=True)
class Health:
    """The daemon as its endpoints describe it."""

    alive: list[str] = field(default_factory=list)  # problems a restart may mend
    degraded: list[str] = field(default_factory=list)  # problems that need a person
    rows: list[dict[str, Any]] = field(default_factory=list)  # the status table

    @property
    def problems(self) -> list[str]:
        return self.alive + self.degraded


def scheduled(config: Config) -> list[tuple[str, str]]:
    """Every connector and direction the daemon schedules (paused connectors left out)."""
    pairs = []
    for connector in config.connectors:
        if connector.paused:
            continue
        pairs.append((connector.name, "push"))
        if connector.pull is not None:
            pairs.append((connector.name, "pull"))
        if connector.reconcile is not None and connector.reconcile.schedule is not None:
            pairs.append((connector.name, "reconcile"))
    return pairs


@dataclass(eq=False)
class HealthCheck:
    """Reads the daemon's health and refreshes the gauges that come from the state store."""

    config: Config
    engine: Engine
    quarantine: Quarantine
    scheduler_running: Callable[[], bool]

    def liveness(self) -> list[str]:
        """What keeps the daemon from doing its job at all; empty when it is alive."""
        problems = []
        if not self.scheduler_running():
            problems.append("the scheduler is not running")
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as error:
            reason = redactor.redact_text(str(error))
            problems.append(f"the state store does not answer: {reason}")
        return problems

    def readiness(self) -> Health:
        """Liveness, then every connector problem that needs a person; gauges refreshed."""
        health = Health(alive=self.liveness())
        if health.alive:
            return health
        quarantined = self.quarantine.current()
        health.rows = status_rows(self.engine)
        health.degraded = [
            *_quarantine_problems(quarantined),
            *_status_problems(health.rows),
        ]
        self._refresh_gauges(health.rows, quarantined)
        return health

    def refresh(self) -> None:
        """The store's gauges before a scrape; a store that does not answer keeps the last ones."""
        try:
            self.readiness()
        except Exception:  # /metrics still serves the process's own counters
            return

    def _refresh_gauges(
        self, rows: Iterable[dict[str, Any]], quarantined: dict[tuple[str, str], Failures]
    ) -> None:
        connectors = {c.name for c in self.config.connectors}
        errors = open_error_counts(self.engine)
        for name in connectors:
            OPEN_ERRORS.labels(name).set(errors.get(name, 0))
        for name, direction in scheduled(self.config):
            QUARANTINED.labels(name, direction).set(1 if (name, direction) in quarantined else 0)
        for row in rows:
            name, direction = row["connector"], row["direction"]
            if name not in connectors:
                continue
            GUARD_TRIPPED.labels(name, direction).set(1 if row["state"] == "guarded" else 0)
            if direction == "push":
                record_pending(name, row["pending_ops"] or 0)
            if row["last_success_at"]:
                succeeded = datetime.fromisoformat(row["last_success_at"])
                if succeeded.tzinfo is None:  # SQLite keeps no zone: syncd writes UTC
                    succeeded = succeeded.replace(tzinfo=UTC)
                LAST_SUCCESS.labels(name, direction).set(succeeded.timestamp())


def _quarantine_problems(quarantined: dict[tuple[str, str], Failures]) -> list[str]:
    problems = []
    for (name, direction), failures in sorted(quarantined.items()):
        when = failures.not_before
        after = f"; next attempt at {when.isoformat()}" if when is not None else ""
        problems.append(
            f"{name} {direction}: quarantined after {failures.count} failed cycle"
            f"{'s' if failures.count > 1 else ''} in a row ({failures.reason}){after}"
        )
    return problems


def _status_problems(rows: Iterable[dict[str, Any]]) -> list[str]:
    problems = []
    for row in rows:
        name, direction = row["connector"], row["direction"]
        if row["state"] == "guarded":
            problems.append(
                f"{name} {direction}: stopped by its safety guard ({row['last_error']}); "
                f"`syncd approve {name}` lets it go ahead once"
            )
        if direction == "push" and row["failed_ops"]:
            problems.append(
                f"{name}: {row['failed_ops']} failed operations (`syncd errors {name}` says "
                f"why; `syncd retry {name}` sends them again)"
            )
    return problems
