"""Showing running cycles' progress: a live line on a terminal, else a log line a minute.

``syncd sync`` shows the live line when its standard error is a terminal (rich redraws
it in place; log lines print above it) and logs ``progress`` every minute otherwise, as
``syncd run`` does for its cycles.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import structlog

from syncd import progress

if TYPE_CHECKING:
    from rich.text import Text

log = structlog.get_logger(__name__)

LOG_EVERY_SECONDS = 60.0


class ProgressLog:
    """A thread logging each running cycle's progress every ``interval`` seconds."""

    def __init__(self, interval: float = LOG_EVERY_SECONDS) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="syncd-progress", daemon=True)

    def start(self) -> ProgressLog:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for running in progress.active():
                shown = running.snapshot()
                if shown.planned:
                    log.info("progress", **shown.fields())


def _live_lines() -> Text:
    from rich.text import Text

    shown = [p.snapshot() for p in progress.active()]
    return Text("\n".join(s.line() for s in shown if s.planned))


@contextmanager
def showing_progress(interval: float = LOG_EVERY_SECONDS) -> Iterator[None]:
    """Show running cycles' progress while the block runs: live on a terminal, else logged."""
    if sys.stderr.isatty():  # rich is loaded only for a display it actually shows
        from rich.console import Console
        from rich.live import Live

        console = Console(stderr=True)
        with Live(
            get_renderable=_live_lines,
            console=console,
            refresh_per_second=2,
            transient=True,
            redirect_stderr=True,
            redirect_stdout=False,
        ):
            yield
        return
    ticker = ProgressLog(interval).start()
    try:
        yield
    finally:
        ticker.stop()
