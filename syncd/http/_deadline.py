"""A whole call's time budget, besides httpx's per-read timeout.

httpx's ``timeout`` bounds each wait for the next bytes, so a server sending one byte
every few seconds is never timed out. Every call of the stack (vendor, token, HR
source and sink) reads its answer through ``within``: once the call has taken its
``deadline`` in all, counted from sending, it ends with ``DeadlinePassed``, a kind of
read timeout, which the callers retry or report like any other timeout. Their
transport is a ``BoundedTransport``, so the wait for the answer's status line and
headers (which ``within`` never sees) ends at the deadline as well.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import httpcore
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


# -- the wait for the answer's head -----------------------------------------------------------
#
# ``within`` sees the body only: httpx hands the answer over once its status line and
# headers are in, and each of their bytes is waited for with the per-read timeout alone.
# ``BoundedTransport`` bounds that wait too: while it sends a request and reads the
# answer's head, every socket wait of the thread is cut to what is left of the deadline.

_calls = threading.local()


class BoundedTransport(httpx.HTTPTransport):
    """httpx's transport whose connect, send, wait for the answer's head and body all end
    ``deadline`` seconds after the request went in, however slowly the bytes come."""

    def __init__(self, deadline: float, **options: Any) -> None:
        super().__init__(**options)
        self._seconds = deadline
        pool = self._pool
        pool._network_backend = _BoundedBackend(pool._network_backend)  # type: ignore[attr-defined]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        started = time.monotonic()
        _calls.until = (started + self._seconds, self._seconds)
        try:
            response = super().handle_request(request)
        except DeadlinePassed as passed:
            passed.request = request
            raise
        finally:
            _calls.until = None
        body = cast(httpx.SyncByteStream, response.stream)
        response.stream = DeadlineStream(body, self._seconds, started, request, lambda: None)
        return response


def bounded_routes(
    deadline: float, proxy_mounts: Callable[..., dict[str, httpx.BaseTransport]]
) -> tuple[BoundedTransport, dict[str, httpx.BaseTransport]]:
    """A ``BoundedTransport`` and the httpx ``mounts`` the environment's proxies need
    (a client given its own transport no longer reads them itself)."""
    direct = BoundedTransport(deadline)
    return direct, proxy_mounts(direct, lambda url: BoundedTransport(deadline, proxy=url))


def _left(timeout: float | None) -> float | None:
    """``timeout`` cut to what is left of the current call's deadline."""
    until = getattr(_calls, "until", None)
    if until is None:
        return timeout
    left = until[0] - time.monotonic()
    if left <= 0:
        raise DeadlinePassed(f"took longer than {until[1]:g}s in all")
    return left if timeout is None else min(timeout, left)


def _cut(wait: Callable[[float | None], Any], timeout: float | None) -> Any:
    """``wait(timeout)`` within the deadline: a timeout it caused is said as such."""
    try:
        return wait(_left(timeout))
    except httpcore.TimeoutException:
        _left(0.0)  # the deadline passed: say that, not "timed out"
        raise


class _BoundedStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return _cut(lambda left: self._inner.read(max_bytes, left), timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        _cut(lambda left: self._inner.write(buffer, left), timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _BoundedStream(
            _cut(lambda left: self._inner.start_tls(ssl_context, server_hostname, left), timeout)
        )

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _BoundedBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        def connect(left: float | None) -> httpcore.NetworkStream:
            return self._inner.connect_tcp(host, port, left, local_address, socket_options)

        return _BoundedStream(_cut(connect, timeout))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        def connect(left: float | None) -> httpcore.NetworkStream:
            return self._inner.connect_unix_socket(path, left, socket_options)

        return _BoundedStream(_cut(connect, timeout))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)
