"""The daemon's life: migrate, schedule, serve, and stop cleanly on SIGTERM/SIGINT.

Stopping: the shutdown event is set; cycles stop between batches (a request in
flight finishes and is recorded, one not yet sent stays in the outbox); waits for
rate limits or jobs end at once; the scheduler waits for its running cycles; then
the HTTP server closes. Nothing is left half-recorded: the outbox holds the rest.
"""

from __future__ import annotations

import structlog

from syncd import __version__
from syncd.assemble import open_state, record_certifications
from syncd.config import Config
from syncd.daemon.cycles import CycleRunner
from syncd.daemon.health import HealthCheck
from syncd.daemon.schedule import build_scheduler, record_schedule
from syncd.daemon.server import HttpServer, build_app
from syncd.logs import redactor
from syncd.metrics import set_recording
from syncd.progress_display import ProgressLog
from syncd.shutdown import stop_on_signals

log = structlog.get_logger(__name__)

STOP_TIMEOUT = 120.0
"""Seconds a stop waits for running cycles; each ends at its next batch boundary long before."""


def run_daemon(config: Config) -> int:
    """Run until SIGTERM or SIGINT; the exit code (0 after a clean stop, 2 with no connector)."""
    if not config.connectors:
        log.error("daemon_not_started", reason="no connector is configured: nothing to schedule")
        return 2
    set_recording(True)  # served at /metrics: every metric, from before the first cycle
    engine = open_state(config)
    record_certifications(config, engine)
    with stop_on_signals() as stop:
        runner = CycleRunner(config, engine, stop)
        scheduler = build_scheduler(config, runner)
        health = HealthCheck(
            config, engine, runner.quarantine, lambda: scheduler.running and not stop.is_set()
        )
        server = HttpServer(build_app(health), config.server.host, config.server.port)
        server.start()
        ticker = ProgressLog().start()  # a long first sync says where it is every minute
        scheduler.start()
        try:
            record_schedule(scheduler, config, engine)
        except Exception as error:  # only the status table's next runs are missing: go on
            log.warning("schedule_not_recorded", reason=redactor.redact_text(str(error)))
        health.refresh()  # the gauges exist from the first scrape, before any cycle ends
        log.info(
            "daemon_started",
            listen=f"{config.server.host}:{server.port}",
            connectors=[c.name for c in config.connectors],
            version=__version__,
        )
        try:
            while not stop.wait(1.0):
                pass
        finally:
            log.info("daemon_stopping", reason="shutdown requested")
            # Not shutdown(wait=True): APScheduler 3 holds its job-store lock while it
            # waits, and a finishing cycle reads its next run time under that lock.
            scheduler.shutdown(wait=False)
            if not runner.wait_idle(STOP_TIMEOUT):
                log.warning("daemon_stop_timeout", seconds=STOP_TIMEOUT)
            ticker.stop()
            server.stop()
            engine.dispose()
    log.info("daemon_stopped")
    return 0
