"""The transport under httpx: every request on the wire, token requests and 401 retries included.

Before each request it takes a permit from the credential's rate limiter; it
rides out 429s (the credential is paused for every process, then the request is
sent again); it reads every answer within the call's whole-request deadline
(``_deadline``); and it reports each call to a ``CallMeter``, which counts it, logs one
``vendor_call`` event and records the metrics. Logs carry the path *template*
(``/api/v2/users/{id}``), never the filled path, query, headers or bodies.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import cast

import httpx
import structlog

from syncd.http._deadline import DeadlineStream
from syncd.http._reading import retry_after
from syncd.http.errors import RateLimitWaitTooLong
from syncd.limits import Finished, Permit, Priority, RateLimiter, RateLimitTimeout
from syncd.metrics import (
    RATE_LIMIT_EFFECTIVE,
    RATE_LIMIT_WAIT_SECONDS,
    RATE_LIMITED,
    VENDOR_API_CALLS,
    VENDOR_CALL_SECONDS,
)

log = structlog.get_logger(__name__)

CALL_EXTENSION = "syncd.call"
"""Request extension carrying the call's context (path template, priority) to the transport."""

UNLABELLED = "(unlabelled)"

NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
"""Transport errors raised before the request left: always safe to retry."""


@dataclass(slots=True)
class CallContext:
    """What the transport needs to know about a request besides the request itself."""

    template: str
    priority: Priority
    attempt: int = 1
    in_doubt: bool = False  # handed to the network and no whole answer received yet

    def derive(self, template: str) -> CallContext:
        """A context for a request made on this call's behalf (an OAuth token request)."""
        return CallContext(template=template, priority=self.priority, attempt=self.attempt)


@dataclass(frozen=True, slots=True)
class RateLimitHeaders:
    """The last ``X-RateLimit-*`` headers a server sent."""

    limit: int | None
    remaining: int | None
    status: int


def _int_or_none(value: str | None) -> int | None:
    match = re.match(r"\s*(-?\d+)", value or "")
    return int(match.group(1)) if match else None


class CallMeter:
    """Calls made under one name (a vendor) for one connector: counted (thread-safe), logged,
    in the metrics. The connector tells two portals of one vendor apart."""

    def __init__(self, name: str, connector: str = "") -> None:
        self.name = name
        self.connector = connector
        self._lock = threading.Lock()
        self.calls = 0
        self.last_rate_limit: RateLimitHeaders | None = None

    def record(
        self,
        request: httpx.Request,
        context: CallContext,
        response: httpx.Response | None,
        started: float,
        waited: float,
        error: BaseException | None,
    ) -> None:
        duration = time.monotonic() - started
        status = response.status_code if response is not None else None
        self._count(response)
        labels = (self.name, self.connector)
        VENDOR_API_CALLS.labels(*labels, str(status) if status else "error").inc()
        VENDOR_CALL_SECONDS.labels(*labels).observe(duration)
        if waited > 0:
            RATE_LIMIT_WAIT_SECONDS.labels(*labels).inc(waited)
        # One line per call is for debugging: a cycle's summary counts them. A call that got
        # no answer or a 5xx stays visible at warning.
        event = log.warning if status is None or status >= 500 else log.debug
        event(
            "vendor_call",
            vendor=self.name,
            method=request.method,
            path=context.template,
            status=status,
            duration_ms=round(duration * 1000, 1),
            attempt=context.attempt,
            wait_ms=round(waited * 1000),
            **({"error": type(error).__name__} if error is not None else {}),
        )

    def rate_limited(
        self, request: httpx.Request, context: CallContext, response: httpx.Response, pause: float
    ) -> None:
        RATE_LIMITED.labels(self.name, self.connector).inc()
        log.warning(
            "vendor_rate_limited",
            vendor=self.name,
            method=request.method,
            path=context.template,
            retry_after_s=retry_after(response),
            pause_ms=round(pause * 1000),
        )

    def limits(self, credential: str, done: Finished) -> None:
        """The credential's effective limits after a call, as ``/metrics`` shows them."""
        for window, limit in done.effective:
            RATE_LIMIT_EFFECTIVE.labels(self.name, credential[:12], f"{window.seconds:g}s").set(
                limit
            )

    def _count(self, response: httpx.Response | None) -> None:
        with self._lock:
            self.calls += 1
            if response is None:
                return
            limit = response.headers.get("x-ratelimit-limit")
            remaining = response.headers.get("x-ratelimit-remaining")
            if limit is not None or remaining is not None:
                self.last_rate_limit = RateLimitHeaders(
                    _int_or_none(limit), _int_or_none(remaining), response.status_code
                )


@dataclass(eq=False)
class LimitedTransport(httpx.BaseTransport):
    """``inner`` behind a rate limiter: a permit before each request, 429s ridden out, each
    answer read within ``deadline`` seconds of sending it (the wait for a permit aside)."""

    inner: httpx.BaseTransport
    limiter: RateLimiter
    meter: CallMeter
    max_wait: float
    deadline: float

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        context = request.extensions.get(CALL_EXTENSION)
        if not isinstance(context, CallContext):
            context = CallContext(UNLABELLED, Priority.READ)
        waited = 0.0
        while True:
            permit = self._permit(context, waited)
            waited += permit.waited
            response, done = self._send(request, context, permit)
            if response.status_code != 429:
                return response
            response.read()
            response.close()
            self.meter.rate_limited(request, context, response, done.paused_for)

    def _permit(self, context: CallContext, waited: float) -> Permit:
        try:
            return self.limiter.acquire(context.priority, max_wait=max(0.0, self.max_wait - waited))
        except RateLimitTimeout as error:
            raise RateLimitWaitTooLong(str(error)) from error

    def _send(
        self, request: httpx.Request, context: CallContext, permit: Permit
    ) -> tuple[httpx.Response, Finished]:
        context.in_doubt = True
        started = time.monotonic()
        try:
            response = self.inner.handle_request(request)
        except Exception as error:
            if isinstance(error, NOT_SENT):
                context.in_doubt = False
            permit.finish(None)
            self.meter.record(request, context, None, started, permit.waited, error)
            raise
        done = permit.finish(response.status_code, response.headers)
        self.meter.record(request, context, response, started, permit.waited, None)
        self.meter.limits(self.limiter.credential, done)
        return self._bounded(response, request, context, started), done

    def _bounded(
        self, response: httpx.Response, request: httpx.Request, context: CallContext, started: float
    ) -> httpx.Response:
        """``response`` whose body is read within the deadline; the call is in doubt until
        the body has arrived whole (a cut answer to a POST may hide a created record)."""

        def complete() -> None:
            context.in_doubt = False

        body = cast(httpx.SyncByteStream, response.stream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=DeadlineStream(body, self.deadline, started, request, complete),
            extensions=response.extensions,
            request=request,
        )

    def close(self) -> None:
        self.inner.close()
