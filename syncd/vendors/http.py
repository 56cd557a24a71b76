"""The HTTP client every vendor adapter talks through: rate limit, retries, auth, logs, metrics.

Two layers, each with one job:

- ``_VendorTransport`` sits under httpx and sees every request that goes on the
  wire, token requests and 401 retries included. It takes a rate-limit permit
  before each one, rides out 429s (the credential is paused for every process,
  then the request is sent again), counts the call, logs one ``vendor_call``
  event and records the metrics.
- ``VendorClient.request`` gives adapters one call with vendor-neutral answers:
  the response for 2xx/3xx and 409, ``RecordRejected`` for a 4xx the record
  itself caused, ``AuthenticationError`` for a 401 that survives a fresh token,
  retries with jittered exponential backoff (tenacity) for timeouts, lost
  connections, 408 and 5xx, ``UnreachableError`` once attempts run out, and
  ``OutcomeUnknown`` instead of a blind re-send when a non-idempotent request
  went out and its answer was lost.

Logs carry the path *template* (``/api/v2/users/{id}``), never the filled path,
query, headers or bodies.
"""

from __future__ import annotations

import json as jsonlib
import re
import string
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import structlog
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from syncd.config.schema.urls import check_vendor_url
from syncd.logs import Redactor
from syncd.metrics import (
    RATE_LIMIT_WAIT_SECONDS,
    RATE_LIMITED,
    VENDOR_API_CALLS,
    VENDOR_CALL_SECONDS,
    VENDOR_RETRIES,
)
from syncd.ratelimit import Priority, RateLimiter, credential_id, retry_after_seconds
from syncd.vendors.auth import CALL_EXTENSION, TokenUnavailable
from syncd.vendors.base import AuthenticationError, UnreachableError

log = structlog.get_logger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
"""Methods safe to send again when their answer was lost (RFC 9110 §9.2.2)."""

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
"""Transport errors raised before the request left: always safe to retry."""

_NOT_PROCESSED = frozenset({408, 429, 503})
"""Answers saying the vendor did not act on the request: safe to retry even a POST."""

MESSAGE_LIMIT = 300
UNLABELLED = "(unlabelled)"


class RecordRejected(Exception):
    """The vendor refused this record (a 4xx other than 401/408/409/429): the data must change.

    ``message`` is the vendor's own words (secrets masked, truncated); ``code`` its
    error id when it gives one (TalentLMS ``_errors[].id``).
    """

    def __init__(self, status: int, message: str, *, vendor: str = "", code: str | None = None):
        super().__init__(f"{vendor + ' ' if vendor else ''}HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.vendor = vendor
        self.code = code


class OutcomeUnknown(Exception):
    """A non-idempotent request went out and no usable answer came back.

    The vendor may or may not have acted on it: look the record up (by its match
    key) before sending it again.
    """


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard a call tries before ``UnreachableError``."""

    attempts: int = 5
    backoff_initial: float = 0.5  # seconds before the 2nd attempt; doubles each time
    backoff_max: float = 30.0
    max_retry_after: float = 300.0  # a 503's Retry-After is honoured up to this
    max_rate_limit_wait: float = 7200.0  # longest one call may wait on the rate limit


@dataclass(frozen=True, slots=True)
class RateLimitHeaders:
    """The last ``X-RateLimit-*`` headers a vendor sent."""

    limit: int | None
    remaining: int | None
    status: int


@dataclass(slots=True)
class CallContext:
    """What the transport needs to know about a request besides the request itself."""

    template: str
    priority: Priority
    attempt: int = 1
    in_doubt: bool = False  # handed to the network and no answer received yet

    def derive(self, template: str) -> CallContext:
        """A context for a request made on this call's behalf (an OAuth token request)."""
        return CallContext(template=template, priority=self.priority, attempt=self.attempt)


# ---------------------------------------------------------------------------------------------
# Paths and messages


def fill_path(template: str, params: Mapping[str, Any] | None = None) -> str:
    """``/users/{id}`` with ``{"id": "a/b"}`` -> ``/users/a%2Fb``; every placeholder is required."""
    params = dict(params or {})
    names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    if "" in names:
        raise ValueError(f"path template {template!r} has an unnamed placeholder")
    missing = sorted(names - params.keys())
    unused = sorted(params.keys() - names)
    if missing or unused:
        raise ValueError(
            f"path template {template!r}: missing {missing or 'none'}, unused {unused or 'none'}"
        )
    return template.format(**{k: quote(str(v), safe="") for k, v in params.items()})


def _texts(value: Any) -> list[str]:
    """Human-readable strings inside an error value (string, list, dict of field -> messages)."""
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    if isinstance(value, dict):
        for key in ("title", "message", "detail", "error_message", "error_description", "error"):
            if isinstance(value.get(key), str) and value[key].strip():
                return [value[key]]
        return [f"{field}: {text}" for field, item in value.items() for text in _texts(item)]
    return []


def vendor_message(response: httpx.Response, secrets: Iterable[str] = ()) -> tuple[str, str | None]:
    """The vendor's explanation of an error answer, and its error id when there is one.

    Reads TalentLMS ``_errors[].title``/``id``, HowNow ``error_message``/``error``/
    ``errors`` (string or list), iLMS ``Message``, Learning Pool ``message``/``detail``, a
    JSON list of strings, else the plain text. Secrets are masked, whitespace
    collapsed and the result cut to ``MESSAGE_LIMIT`` characters.
    """
    code: str | None = None
    parts: list[str] = []
    try:
        payload = jsonlib.loads(response.content) if response.content else None
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        # iLMS answers "Message", "ModelState"...: keys are compared without case.
        payload = {str(k).lower(): v for k, v in payload.items()}
        errors = payload.get("_errors")
        if isinstance(errors, list):
            for item in errors:
                if isinstance(item, dict) and code is None and isinstance(item.get("id"), str):
                    code = item["id"]
            parts += _texts(errors)
        for key in (
            "error_message",
            "message",
            "errors",
            "error_description",
            "detail",
            "title",
            "reason_phrase",
        ):
            parts += _texts(payload.get(key))
        if not parts and isinstance(payload.get("error"), str | list | dict):
            parts += _texts(payload["error"])
        if isinstance(payload.get("error"), str) and code is None:
            code = payload["error"]
    elif isinstance(payload, list):
        parts += _texts(payload)
    elif payload is None and response.content:
        text = response.text.strip()
        if text and not text.startswith("<"):  # an HTML error page says nothing useful
            parts.append(text)
    unique = list(dict.fromkeys(" ".join(p.split()) for p in parts))
    message = "; ".join(unique) or response.reason_phrase or f"HTTP {response.status_code}"
    message = Redactor(secrets).redact_text(message)
    if len(message) > MESSAGE_LIMIT:
        message = message[: MESSAGE_LIMIT - 1] + "…"
    return message, (code[:100] if code else None)


# ---------------------------------------------------------------------------------------------
# The transport: every request on the wire


class _Tally:
    """Calls counted by one client (thread-safe) and the last rate-limit headers seen."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls = 0
        self.last_rate_limit: RateLimitHeaders | None = None

    def count(self, response: httpx.Response | None) -> None:
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


def _int_or_none(value: str | None) -> int | None:
    match = re.match(r"\s*(-?\d+)", value or "")
    return int(match.group(1)) if match else None


class _VendorTransport(httpx.BaseTransport):
    def __init__(
        self,
        inner: httpx.BaseTransport,
        vendor: str,
        limiter: RateLimiter,
        tally: _Tally,
        max_wait: float,
    ) -> None:
        self._inner = inner
        self._vendor = vendor
        self._limiter = limiter
        self._tally = tally
        self._max_wait = max_wait

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        context = request.extensions.get(CALL_EXTENSION)
        if not isinstance(context, CallContext):
            context = CallContext(UNLABELLED, Priority.READ)
        waited = 0.0
        while True:
            permit = self._limiter.acquire(
                context.priority, max_wait=max(0.0, self._max_wait - waited)
            )
            waited += permit.waited
            if permit.waited > 0:
                RATE_LIMIT_WAIT_SECONDS.labels(self._vendor).inc(permit.waited)
            context.in_doubt = True
            started = time.monotonic()
            try:
                response = self._inner.handle_request(request)
            except Exception as error:
                if isinstance(error, _NOT_SENT):
                    context.in_doubt = False
                permit.finish(None)
                self._record(request, context, None, started, permit.waited, error)
                raise
            context.in_doubt = False
            done = permit.finish(response.status_code, response.headers)
            self._record(request, context, response, started, permit.waited, None)
            if response.status_code != 429:
                return response
            response.read()
            response.close()
            RATE_LIMITED.labels(self._vendor).inc()
            log.warning(
                "vendor_rate_limited",
                vendor=self._vendor,
                method=request.method,
                path=context.template,
                retry_after_s=retry_after_seconds(response.headers.get("retry-after")),
                pause_ms=round(done.paused_for * 1000),
            )

    def _record(
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
        self._tally.count(response)
        VENDOR_API_CALLS.labels(self._vendor, str(status) if status else "error").inc()
        VENDOR_CALL_SECONDS.labels(self._vendor).observe(duration)
        event = log.warning if status is None or status >= 500 else log.info
        event(
            "vendor_call",
            vendor=self._vendor,
            method=request.method,
            path=context.template,
            status=status,
            duration_ms=round(duration * 1000, 1),
            attempt=context.attempt,
            wait_ms=round(waited * 1000),
            **({"error": type(error).__name__} if error is not None else {}),
        )

    def close(self) -> None:
        self._inner.close()


# ---------------------------------------------------------------------------------------------
# The client adapters use


class _Transient(Exception):
    """A failure worth another attempt."""

    def __init__(self, reason: str, retry_after: float | None = None, label: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.label = label or reason  # short and bounded: a metric label


class _Backoff:
    """Jittered exponential backoff, stretched to a 503's ``Retry-After`` when one is sent."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._base = wait_exponential_jitter(
            multiplier=policy.backoff_initial, max=policy.backoff_max, jitter=policy.backoff_initial
        )
        self._cap = policy.max_retry_after

    def __call__(self, state: RetryCallState) -> float:
        wait = self._base(state)
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, _Transient) and error.retry_after is not None:
            wait = max(wait, min(error.retry_after, self._cap))
        return wait


class VendorClient:
    """One vendor credential's HTTP client. Thread-safe; ``close()`` it when done.

    ``base_url`` is the vendor root (https, or http on loopback); paths are
    appended to it. ``limiter`` is the credential's ``RateLimiter``; without one,
    429 pauses still apply (in this process). ``sleep`` is used between retries
    (inject one that raises to abandon a call on shutdown).
    """

    def __init__(
        self,
        vendor: str,
        base_url: str,
        *,
        auth: httpx.Auth | None = None,
        limiter: RateLimiter | None = None,
        timeout: float | httpx.Timeout = 30.0,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.vendor = vendor
        self.base_url = check_vendor_url(base_url)
        self.limiter = limiter or RateLimiter(credential_id(vendor, base_url), (), name=vendor)
        self.retry = retry or RetryPolicy()
        self._auth = auth
        self._sleep = sleep
        self._tally = _Tally()
        wire = _VendorTransport(
            transport or httpx.HTTPTransport(),
            vendor,
            self.limiter,
            self._tally,
            self.retry.max_rate_limit_wait,
        )
        self._client = httpx.Client(
            base_url=self.base_url,
            auth=auth,
            timeout=timeout,
            headers=dict(headers or {}),
            transport=wire,
            follow_redirects=False,
        )

    # -- what the engine and adapters read

    @property
    def api_calls(self) -> int:
        """Requests sent so far (token requests, retries and 429s included): the vendor's count."""
        return self._tally.calls

    @property
    def last_rate_limit(self) -> RateLimitHeaders | None:
        """The last ``X-RateLimit-Limit``/``-Remaining`` the vendor sent, if it ever did."""
        return self._tally.last_rate_limit

    def secrets(self) -> list[str]:
        secrets = getattr(self._auth, "secrets", None)
        return list(secrets()) if callable(secrets) else []

    # -- calls

    def request(
        self,
        method: str,
        path_template: str,
        *,
        path_params: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        priority: Priority | None = None,
        idempotent: bool | None = None,
        accept: Collection[int] = (),
    ) -> httpx.Response:
        """Send one call and return its (read) response.

        ``priority`` defaults to READ for GET/HEAD and WRITE otherwise; pass
        ``Priority.DEPROVISION`` for leavers. ``idempotent`` defaults by method (POST
        and PATCH are not); say ``True`` for upserts keyed by an external id.
        ``accept`` lists error statuses to return instead of raising (e.g. ``{404}``).
        409 is always returned: adapters decide whether it means "already so".
        """
        method = method.upper()
        safe_to_resend = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        context = CallContext(
            template=path_template,
            priority=priority
            if priority is not None
            else (Priority.READ if method in ("GET", "HEAD") else Priority.WRITE),
        )
        request = self._client.build_request(
            method,
            fill_path(path_template, path_params),
            params=params,
            json=json,
            data=data,
            headers=headers,
            extensions={CALL_EXTENSION: context},
        )
        retrying = Retrying(
            stop=stop_after_attempt(max(1, self.retry.attempts)),
            wait=_Backoff(self.retry),
            retry=retry_if_exception_type(_Transient),
            sleep=self._sleep,
            reraise=True,
            before_sleep=lambda state: self._log_retry(method, path_template, state),
        )
        try:
            for attempt in retrying:
                with attempt:
                    context.attempt = attempt.retry_state.attempt_number
                    return self._attempt(request, context, safe_to_resend, accept)
        except _Transient as failure:
            raise UnreachableError(
                f"{self.vendor} {method} {path_template}: {failure.reason}, "
                f"still failing after {self.retry.attempts} attempts"
            ) from failure
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    def get(self, path_template: str, **options: Any) -> httpx.Response:
        return self.request("GET", path_template, **options)

    def post(self, path_template: str, **options: Any) -> httpx.Response:
        return self.request("POST", path_template, **options)

    def put(self, path_template: str, **options: Any) -> httpx.Response:
        return self.request("PUT", path_template, **options)

    def patch(self, path_template: str, **options: Any) -> httpx.Response:
        return self.request("PATCH", path_template, **options)

    def delete(self, path_template: str, **options: Any) -> httpx.Response:
        return self.request("DELETE", path_template, **options)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> VendorClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- one attempt

    def _attempt(
        self,
        request: httpx.Request,
        context: CallContext,
        safe_to_resend: bool,
        accept: Collection[int],
    ) -> httpx.Response:
        call = f"{self.vendor} {request.method} {context.template}"
        try:
            response = self._client.send(request)
        except _NOT_SENT as error:
            raise _Transient(type(error).__name__) from error
        except httpx.TransportError as error:
            if context.in_doubt and not safe_to_resend:
                raise OutcomeUnknown(
                    f"{call}: {type(error).__name__} after the request was sent; "
                    "look the record up before sending it again"
                ) from error
            raise _Transient(type(error).__name__) from error
        except TokenUnavailable as error:
            raise _Transient(str(error), label="token endpoint") from error

        status = response.status_code
        if status < 400 or status == 409 or status in accept:
            return response
        if status == 401:
            message, _ = vendor_message(response, self.secrets())
            renewed = getattr(self._auth, "renews_on_401", False)
            raise AuthenticationError(
                f"{self.vendor} refused the credentials (HTTP 401: {message}) on "
                f"{request.method} {context.template}"
                + (" even with a freshly issued token" if renewed else "")
                + "; check the credentials and the permissions of the API client"
            )
        if status in _NOT_PROCESSED or status >= 500:
            if status not in _NOT_PROCESSED and not safe_to_resend:
                raise OutcomeUnknown(
                    f"{call}: HTTP {status}; the vendor may have acted on it, "
                    "look the record up before sending it again"
                )
            retry_after = (
                retry_after_seconds(response.headers.get("retry-after")) if status == 503 else None
            )
            raise _Transient(f"HTTP {status}", retry_after)
        message, code = vendor_message(response, self.secrets())
        raise RecordRejected(status, message, vendor=self.vendor, code=code)

    def _log_retry(self, method: str, template: str, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        reason = error.reason if isinstance(error, _Transient) else type(error).__name__
        label = error.label if isinstance(error, _Transient) else type(error).__name__
        VENDOR_RETRIES.labels(self.vendor, label).inc()
        log.warning(
            "vendor_retry",
            vendor=self.vendor,
            method=method,
            path=template,
            attempt=state.attempt_number,
            reason=reason,
            retry_in_ms=round((state.next_action.sleep if state.next_action else 0) * 1000),
        )
