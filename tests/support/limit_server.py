"""A loopback HTTP server that enforces rate limits the way a vendor does, and misbehaves on cue.

It counts every request it accepts in sliding windows (the strictest way a vendor
can count: a client that passes it passes any fixed-window vendor too) and answers
429 beyond a limit, with ``Retry-After`` when asked. It can also answer scripted
statuses, drop a connection after reading a request, answer late, storm with
429s for a while, demand an API key, and run an OAuth2 client-credentials token
endpoint whose tokens live shorter than they claim. Every request is recorded
with its arrival time, so tests judge the client by what the server saw.

    with LimitServer(limits=[(200, 5.0)]) as server:
        httpx.get(server.url + "/anything")
        assert server.count(status=429) == 0

``drive_calls`` is the client side of the multi-process tests and the benchmark:
a subprocess runs it against a server of the parent process.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True, slots=True)
class Scripted:
    """One canned answer for the next request to a path (or to any path)."""

    status: int = 200
    body: Any = None  # dict/list -> JSON, str -> text, None -> {"ok": true}
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # read the request, then close the connection without answering
    delay: float = 0.0  # seconds to wait before answering (or dropping)
    trickle: float = 0.0  # seconds between the bytes of the body (each read well on time)
    head_trickle: float = 0.0  # seconds between the bytes of the status line and headers


@dataclass(frozen=True, slots=True)
class Seen:
    """One request as the server received it."""

    at: float  # the server's time.monotonic() on arrival
    method: str
    path: str
    status: int | None  # None when the connection was dropped
    headers: dict[str, str]
    body: bytes


@dataclass(slots=True)
class OAuthSettings:
    """The token endpoint: who may ask, and how long tokens really live."""

    client_id: str = "client-id"
    client_secret: str = "client-secret"
    token_path: str = "/token"
    advertised_lifetime: int = 3600  # expires_in in the answer
    actual_lifetime: float = 3600.0  # when the server stops accepting a token
    reject_all: bool = False  # resources answer 401 whatever the token


class LimitServer:
    """A vendor-like server on 127.0.0.1 with an ephemeral port; use as a context manager."""

    def __init__(
        self,
        limits: Iterable[tuple[int, float]] = (),
        *,
        retry_after: str | None = None,
        rate_headers: bool = False,
        api_key: str | None = None,
        api_key_header: str = "X-API-Key",
        oauth: OAuthSettings | None = None,
    ) -> None:
        self.limits = [(int(limit), float(seconds)) for limit, seconds in limits]
        self.retry_after = retry_after
        self.rate_headers = rate_headers
        self.api_key = api_key
        self.api_key_header = api_key_header
        self.oauth = oauth
        self.requests: list[Seen] = []
        self.tokens_issued = 0
        self._lock = threading.Lock()
        self._arrivals = [deque() for _ in self.limits]
        self._script: list[tuple[str | None, Scripted]] = []
        self._storm_until = 0.0
        self._storm_retry_after: str | None = None
        self._tokens: dict[str, float] = {}
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    # -- life

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> LimitServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    # -- steering

    def script(self, *answers: Scripted, path: str | None = None) -> None:
        """Queue answers for the next requests to ``path`` (any path when None), in order."""
        with self._lock:
            self._script.extend((path, answer) for answer in answers)

    def storm(self, seconds: float, retry_after: str | None = None) -> None:
        """Answer 429 to every request for the next ``seconds``."""
        with self._lock:
            self._storm_until = time.monotonic() + seconds
            self._storm_retry_after = retry_after

    def consume(self, calls: int) -> None:
        """Another client of the same key makes ``calls`` requests now (counted, not recorded)."""
        with self._lock:
            now = time.monotonic()
            for arrivals in self._arrivals:
                arrivals.extend([now] * calls)

    def revoke_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    # -- what the server saw

    def count(self, *, status: int | str | None = "any", path: str | None = None) -> int:
        with self._lock:
            return sum(
                1
                for seen in self.requests
                if (status == "any" or seen.status == status)
                and (path is None or seen.path == path)
            )

    def wait_for(self, requests: int, timeout: float = 5.0) -> int:
        """Wait until ``requests`` have been answered (a late answer is recorded late)."""
        deadline = time.monotonic() + timeout
        while self.count() < requests and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.count()

    def accepted_arrivals(self) -> list[float]:
        """Arrival times of the requests counted against the limits (every answer but 429)."""
        with self._lock:
            return sorted(seen.at for seen in self.requests if seen.status != 429)

    def max_in_window(self, seconds: float) -> int:
        """The most accepted requests that arrived within any ``seconds``-long interval."""
        times = self.accepted_arrivals()
        best, start = 0, 0
        for end, at in enumerate(times):
            while at - times[start] >= seconds:
                start += 1
            best = max(best, end - start + 1)
        return best

    # -- the request handler's side

    def _admit(self, now: float) -> tuple[bool, dict[str, str]]:
        """Count a request against the limits; (accepted, extra headers)."""
        headers: dict[str, str] = {}
        with self._lock:
            if now < self._storm_until:
                if self._storm_retry_after is not None:
                    headers["Retry-After"] = self._storm_retry_after
                return False, headers
            for (limit, seconds), arrivals in zip(self.limits, self._arrivals, strict=True):
                while arrivals and arrivals[0] <= now - seconds:
                    arrivals.popleft()
                if len(arrivals) >= limit:
                    if self.retry_after is not None:
                        headers["Retry-After"] = self.retry_after
                    return False, headers
            for arrivals in self._arrivals:
                arrivals.append(now)
            if self.rate_headers and self.limits:
                index = max(range(len(self.limits)), key=lambda i: self.limits[i][1])
                limit = self.limits[index][0]
                headers["X-RateLimit-Limit"] = str(limit)
                headers["X-RateLimit-Remaining"] = str(max(0, limit - len(self._arrivals[index])))
            return True, headers

    def _next_scripted(self, path: str) -> Scripted | None:
        with self._lock:
            for index, (wanted, answer) in enumerate(self._script):
                if wanted is None or wanted == path:
                    del self._script[index]
                    return answer
        return None

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self.requests.append(seen)

    def _token_answer(self, body: bytes, content_type: str) -> tuple[int, Any]:
        assert self.oauth is not None
        if "json" in content_type:
            form = json.loads(body or b"{}")
        else:
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if form.get("grant_type") != "client_credentials" or "client_id" not in form:
            return 400, {"error": "invalid_request"}
        if (form.get("client_id"), form.get("client_secret")) != (
            self.oauth.client_id,
            self.oauth.client_secret,
        ):
            return 401, {"error": "invalid_client"}
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.oauth.actual_lifetime
            self.tokens_issued += 1
        return 200, {
            "access_token": token,
            "expires_in": self.oauth.advertised_lifetime,
            "token_type": "Bearer",
        }

    def _authorised(self, headers: dict[str, str]) -> bool:
        if self.api_key is not None and headers.get(self.api_key_header.lower()) != self.api_key:
            return False
        if self.oauth is None:
            return True
        if self.oauth.reject_all:
            return False
        scheme, _, token = headers.get("authorization", "").partition(" ")
        with self._lock:
            expires = self._tokens.get(token)
        return scheme.lower() == "bearer" and expires is not None and time.monotonic() < expires

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        now = time.monotonic()
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        path = urlsplit(handler.path).path
        headers = {k.lower(): v for k, v in handler.headers.items()}
        accepted, extra = self._admit(now)
        if not accepted:
            self._record(Seen(now, handler.command, path, 429, headers, body))
            _answer(handler, 429, {"error": "Too Many Requests"}, extra)
            return
        scripted = self._next_scripted(path)
        if scripted is not None and scripted.delay:
            time.sleep(scripted.delay)
        if scripted is not None and scripted.drop:
            self._record(Seen(now, handler.command, path, None, headers, body))
            handler.close_connection = True
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)
            return
        if scripted is not None:
            status, payload, more = scripted.status, scripted.body, scripted.headers
        elif self.oauth is not None and path == self.oauth.token_path:
            status, payload = self._token_answer(body, headers.get("content-type", ""))
            more = {}
        elif not self._authorised(headers):
            status, payload, more = 401, {"error_message": "Not authorized"}, {}
        else:
            status, payload, more = 200, {"ok": True, "method": handler.command, "path": path}, {}
        self._record(Seen(now, handler.command, path, status, headers, body))
        trickle = scripted.trickle if scripted is not None else 0.0
        head_trickle = scripted.head_trickle if scripted is not None else 0.0
        answer = {"ok": True} if payload is None else payload
        _answer(handler, status, answer, {**extra, **more}, trickle, head_trickle)


def trickle_head(handler: BaseHTTPRequestHandler, pause: float) -> None:
    """The answer's head so far, a byte at a time, each well within a read timeout."""
    head, handler._headers_buffer = b"".join(handler._headers_buffer), []  # type: ignore[attr-defined]
    for byte in head:
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()
        time.sleep(pause)


def _answer(
    handler: BaseHTTPRequestHandler,
    status: int,
    payload: Any,
    headers: dict,
    trickle: float = 0.0,
    head_trickle: float = 0.0,
) -> None:
    if isinstance(payload, str):
        content, kind = payload.encode(), "text/plain; charset=utf-8"
    else:
        content, kind = json.dumps(payload).encode(), "application/json"
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", kind)
        handler.send_header("Content-Length", str(len(content)))
        for name, value in headers.items():
            handler.send_header(name, value)
        if head_trickle:
            trickle_head(handler, head_trickle)
        handler.end_headers()
        if not trickle:
            handler.wfile.write(content)
        for byte in content if trickle else b"":
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(trickle)
    except OSError:  # the client gave up (a timeout test): nothing to answer
        handler.close_connection = True


def _handler_for(server: LimitServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _any(self) -> None:
            server.handle(self)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

    return Handler


# ---------------------------------------------------------------------------------------------
# Judging a run


def ideal_schedule(calls: int, limits: Sequence[tuple[int, float]]) -> list[float]:
    """When each of ``calls`` goes at the earliest under sliding ``limits``, from time 0."""
    times: list[float] = []
    for index in range(calls):
        at = 0.0
        for limit, seconds in limits:
            if index >= limit:
                at = max(at, times[index - limit] + seconds)
        times.append(at)
    return times


def binding(limits: Sequence[tuple[int, float]]) -> tuple[int, float]:
    """The limit with the lowest sustained rate: the one a long run is held to."""
    return min(limits, key=lambda pair: pair[0] / pair[1])


def utilization(arrivals: Sequence[float], limit: int, seconds: float) -> float:
    """Mean share of ``limit`` used in the complete ``seconds``-long windows of a run.

    Windows are laid end to end from the first arrival; the last, incomplete one is
    left out. 1.0 means every window was filled to the limit.
    """
    if not arrivals:
        return 0.0
    start, end = arrivals[0], arrivals[-1]
    complete = int((end - start) // seconds)
    if complete < 1:
        return len(arrivals) / limit
    counts = [0] * complete
    for at in arrivals:
        index = int((at - start) // seconds)
        if index < complete:
            counts[index] += 1
    return sum(counts) / (complete * limit)


# ---------------------------------------------------------------------------------------------
# The client side, for subprocesses


def drive_calls(
    url: str,
    state_url: str,
    calls: int,
    windows: Sequence[tuple[int, float]],
    *,
    threads: int = 1,
    credential: str = "shared-key",
    priority: str = "WRITE",
) -> dict[str, Any]:
    """Make ``calls`` GETs through a ``VendorClient`` whose limiter lives in ``state_url``."""
    from concurrent.futures import ThreadPoolExecutor

    from syncd.http import VendorClient
    from syncd.limits import Priority, RateLimiter, credential_id
    from syncd.state.db import make_engine
    from syncd.state.limiter import SqlBackend

    engine = make_engine(state_url)
    limiter = RateLimiter(
        credential_id("bench", url, credential),
        windows,
        backend=SqlBackend(engine),
        name="bench",
        in_flight=10.0,
    )
    failures: list[str] = []
    with VendorClient("bench", url, limiter=limiter, timeout=10.0) as client:

        def one(index: int) -> None:
            try:
                client.request(
                    "GET", "/items/{n}", path_params={"n": index}, priority=Priority[priority]
                )
            except Exception as error:  # reported to the parent, which fails the test
                failures.append(f"{type(error).__name__}: {error}")

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, range(calls)))
        sent = client.api_calls
    engine.dispose()
    return {
        "sent": sent,
        "failures": failures,
        "effective": [limit for _window, limit in limiter.snapshot().effective],
        "metrics": _effective_gauges(),
    }


def _effective_gauges() -> dict[str, float]:
    """This process's ``syncd_rate_limit_effective`` samples, by window (as /metrics shows)."""
    from prometheus_client import REGISTRY

    return {
        sample.labels["window"]: sample.value
        for metric in REGISTRY.collect()
        if metric.name == "syncd_rate_limit_effective"
        for sample in metric.samples
    }


if __name__ == "__main__":  # python -m tests.support.limit_server '{"url": ..., ...}'
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    arguments = json.loads(sys.argv[1])
    print(json.dumps(drive_calls(**arguments)))
