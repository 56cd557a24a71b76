"""A whole call's time budget, besides httpx's per-read timeout.

httpx's ``timeout`` bounds each wait for the next bytes, so a server sending one byte
every few seconds is never timed out. Every call of the stack (vendor, token, HR
source and sink) reads its answer through ``within``: once the call has taken its
``deadline`` in all, counted from sending, it ends with ``DeadlinePassed``, a kind of
read timeout, which the callers retry or report like any other timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import httpx


class DeadlinePassed(httpx.ReadTimeout):
    """The answer was still arriving when the call's deadline passed."""


def within(
    chunks: Iterable[bytes], seconds: float, started: float, request: httpx.Request
) -> Iterator[bytes]:
    """``chunks`` as they arrive, until ``seconds`` after ``started`` (``time.monotonic``)."""
    for chunk in chunks:
        if time.monotonic() - started > seconds:
            raise DeadlinePassed(f"took longer than {seconds:g}s in all", request=request)
        yield chunk


@dataclass(eq=False)
class DeadlineStream(httpx.SyncByteStream):
    """A response body read ``within`` the call's deadline; ``on_complete`` runs once the
    last byte has arrived (the answer is then known whole)."""

    inner: httpx.SyncByteStream
    seconds: float
    started: float
    request: httpx.Request
    on_complete: Callable[[], None]

    def __iter__(self) -> Iterator[bytes]:
        yield from within(self.inner, self.seconds, self.started, self.request)
        self.on_complete()

    def close(self) -> None:
        self.inner.close()
