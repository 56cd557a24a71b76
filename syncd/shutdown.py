"""One process-wide stop signal, so a long wait anywhere in syncd ends when the process stops.

SIGTERM or SIGINT set it (the daemon, and ``syncd sync``). Cycles look at it between
batches; the rate limiter and retry pauses look at it while they wait, so a stop
never sits out a five-minute 429 pause. What was recorded stays recorded: an
operation abandoned before its request left stays in the outbox for the next cycle.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SHUTDOWN = threading.Event()
_received: list[int] = []  # the signal that asked to stop, if one did


class ShuttingDown(Exception):
    """Raised out of a wait because the process is stopping."""


def pausable_sleep(seconds: float) -> None:
    """``time.sleep`` that ends at once, raising ShuttingDown, when the process stops."""
    if SHUTDOWN.wait(max(0.0, seconds)):
        raise ShuttingDown("stopping: shutdown requested")


def received_signal() -> int | None:
    """The number of the signal that asked this process to stop, or None."""
    return _received[0] if _received else None


def raise_if_stopping() -> None:
    if SHUTDOWN.is_set():
        raise ShuttingDown("stopping: shutdown requested")


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """Within the block, SIGTERM and SIGINT set SHUTDOWN instead of killing the process.

    A second signal while stopping restores the default handlers and re-raises it,
    so an operator who insists still gets the process to go at once.
    """
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def _request_stop(signum: int, _frame: object) -> None:
        if SHUTDOWN.is_set():
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            signal.raise_signal(signum)
            return
        _received.append(signum)
        SHUTDOWN.set()

    for sig in previous:
        signal.signal(sig, _request_stop)
    try:
        yield SHUTDOWN
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
