"""The HTTP client every vendor adapter talks through: rate limit, retries, auth, logs, metrics.

Under it sits the ``LimitedTransport`` (a permit per request, 429s ridden out, each
call counted and logged). ``VendorClient.request`` gives adapters one call with
vendor-neutral answers: the response for 2xx/3xx and 409, ``RecordRejected`` for a
4xx the record itself caused, ``AuthenticationError`` for a 401 that survives a
fresh token, retries with jittered exponential backoff (tenacity) for timeouts,
lost connections, 408 and 5xx, ``UnreachableError`` once attempts run out, and
``OutcomeUnknown`` instead of a blind re-send when a non-idempotent request went
out and its answer was lost.
"""

from __future__ import annotations

import string
import threading
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any
from urllib.parse import quote

import httpx
import structlog

from syncd.http._auth import live_secrets
from syncd.http._deadline import BoundedTransport, DeadlinePassed
from syncd.http._proxies import proxy_mounts
from syncd.http._reading import retry_after, vendor_message
from syncd.http._retry import RetryPolicy, Transient, call_with_retries
from syncd.http._transport import (
    CALL_EXTENSION,
    NOT_SENT,
    CallContext,
    CallMeter,
    LimitedTransport,
    RateLimitHeaders,
)
from syncd.http._urls import check_vendor_url
from syncd.http.errors import (
    AuthenticationError,
    OutcomeUnknown,
    PortalRefused,
    RecordRejected,
    TokenUnavailable,
    UnreachableError,
)
from syncd.limits import Priority, RateLimiter, credential_id
from syncd.metrics import VENDOR_RETRIES

log = structlog.get_logger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
"""Methods safe to send again when their answer was lost (RFC 9110 §9.2.2)."""

_NOT_PROCESSED = frozenset({408, 429, 503})
"""Answers saying the vendor did not act on the request: safe to retry even a POST."""


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


class VendorClient:
    """One vendor credential's HTTP client. Thread-safe; ``close()`` it when done.

    ``base_url`` is the vendor root (https, or http on loopback); paths are
    appended to it. ``limiter`` is the credential's ``RateLimiter``; without one,
    429 pauses still apply (in this process). ``timeout`` bounds each read, ``deadline``
    a whole call from sending to the last byte of its answer (a server trickling it).
    ``sleep`` is used between retries (inject one that raises to abandon a call on
    shutdown). ``connector`` labels the metrics, so two portals of one vendor are told apart.
    """

    def __init__(
        self,
        vendor: str,
        base_url: str,
        *,
        auth: httpx.Auth | None = None,
        limiter: RateLimiter | None = None,
        timeout: float | httpx.Timeout = 30.0,
        deadline: float = 300.0,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        portal_refusals: Mapping[int, str] | None = None,
        connector: str = "",
        refused_in_body: Callable[[httpx.Response], bool] | None = None,
    ) -> None:
        self.vendor = vendor
        self.connector = connector
        # How this vendor says "refused" in the body of a 2xx answer (TalentLMS ``_errors``).
        self._refused_in_body = refused_in_body
        # Statuses by which this vendor refuses the whole portal, not a record, and what
        # its document says they mean (TalentLMS 403): they end the cycle (exit 4).
        self._portal_refusals = dict(portal_refusals or {})
        self.base_url = check_vendor_url(base_url)
        self.limiter = limiter or RateLimiter(credential_id(vendor, base_url), (), name=vendor)
        self.retry = retry or RetryPolicy()
        self._auth = auth
        self._sleep = sleep
        self._meter = CallMeter(vendor, connector)
        self._deadline = deadline
        self._options = (auth, timeout, dict(headers or {}), transport)
        self._built: httpx.Client | None = None
        self._building = threading.Lock()
        self._closed = False

    @property
    def _client(self) -> httpx.Client:
        """The httpx client, built on the first call: building it loads the system's CA
        certificates (an SSL context), which a cycle with nothing to send never needs."""
        if self._built is None:
            with self._building:
                if self._built is None:
                    self._built = self._build()
        return self._built

    def _build(self) -> httpx.Client:
        auth, timeout, headers, transport = self._options
        wire = self._limited(transport or BoundedTransport(self._deadline))
        client = httpx.Client(
            base_url=self.base_url,
            auth=auth,
            timeout=timeout,
            headers=headers,
            transport=wire,
            mounts=None if transport else proxy_mounts(wire, self._through_proxy),
            follow_redirects=False,
        )
        if self._closed:  # a call after close() fails as httpx's would
            client.close()
        return client

    def _limited(self, inner: httpx.BaseTransport) -> LimitedTransport:
        """``inner`` behind this credential's limiter and meter (one budget whatever the route)."""
        return LimitedTransport(
            inner, self.limiter, self._meter, self.retry.max_rate_limit_wait, self._deadline
        )

    def _through_proxy(self, proxy_url: str) -> LimitedTransport:
        return self._limited(BoundedTransport(self._deadline, proxy=proxy_url))

    # -- what the engine and adapters read

    @property
    def api_calls(self) -> int:
        """Requests sent so far (token requests, retries and 429s included): the vendor's count."""
        return self._meter.calls

    @property
    def last_rate_limit(self) -> RateLimitHeaders | None:
        """The last ``X-RateLimit-Limit``/``-Remaining`` the vendor sent, if it ever did."""
        return self._meter.last_rate_limit

    def secrets(self) -> list[str]:
        return live_secrets(self._auth)

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

        def attempt(number: int) -> httpx.Response:
            context.attempt = number
            return self._attempt(request, context, safe_to_resend, accept)

        def on_retry(failure: Transient, number: int, pause: float) -> None:
            self._log_retry(method, path_template, failure, number, pause)

        try:
            return call_with_retries(attempt, self.retry, sleep=self._sleep, on_retry=on_retry)
        except Transient as failure:
            raise UnreachableError(
                f"{self.vendor} {method} {path_template}: {failure.reason}, "
                f"still failing after {self.retry.attempts} attempts",
                status=failure.status,
            ) from failure

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
        self._closed = True
        if self._built is not None:
            self._built.close()

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
        except NOT_SENT as error:
            raise Transient(type(error).__name__) from error
        except httpx.TransportError as error:
            what = str(error) if isinstance(error, DeadlinePassed) else type(error).__name__
            if context.in_doubt and not safe_to_resend:
                raise OutcomeUnknown(
                    f"{call}: {what} after the request was sent; "
                    "look the record up before sending it again"
                ) from error
            raise Transient(what, label=type(error).__name__) from error
        except TokenUnavailable as error:
            raise Transient(str(error), label="token endpoint") from error

        status = response.status_code
        if 200 <= status < 300 and self._refused_in_body and self._refused_in_body(response):
            self._refuse_answered(request, context, response)
        if status < 400 or status == 409 or status in accept:
            return response
        if status == 401:
            message, _ = vendor_message(response, self.secrets())
            renewed = getattr(self._auth, "renews_on_401", False)
            raise AuthenticationError(
                f"{self.vendor} refused the credentials (HTTP 401: {message}) on "
                f"{request.method} {context.template}"
                + (" even with a freshly issued token" if renewed else "")
                + "; check the credentials and the permissions of the API client",
                status=status,
            )
        if status in self._portal_refusals:
            message, _ = vendor_message(response, self.secrets())
            raise PortalRefused(
                f"{self.vendor} refused the whole portal (HTTP {status}"
                + (f": {message}" if message else "")
                + f") on {request.method} {context.template}: "
                + self._portal_refusals[status],
                status=status,
            )
        message, code = vendor_message(response, self.secrets())
        if status in _NOT_PROCESSED or status >= 500:
            # The vendor's words are quoted whatever the status: they are what an operator
            # acts on ("maintenance until 02:00", "quota exceeded").
            said = f"HTTP {status}: {message}"
            if status not in _NOT_PROCESSED and not safe_to_resend:
                raise OutcomeUnknown(
                    f"{call}: {said}; the vendor may have acted on it, "
                    "look the record up before sending it again"
                )
            wait = retry_after(response) if status == 503 else None
            raise Transient(said, retry_after=wait, label=f"HTTP {status}", status=status)
        raise RecordRejected(status, message, vendor=self.vendor, code=code)

    def _refuse_answered(
        self, request: httpx.Request, context: CallContext, response: httpx.Response
    ) -> None:
        """A 2xx whose body says the call failed, with the vendor's words: a write is
        refused like a 4xx; a read that cannot be trusted ends the cycle."""
        message, code = vendor_message(response, self.secrets())
        status = response.status_code
        if request.method in ("GET", "HEAD"):
            raise UnreachableError(
                f"{self.vendor} {request.method} {context.template}: HTTP {status} "
                f"carrying an error: {message}"
            )
        raise RecordRejected(status, message, vendor=self.vendor, code=code)

    def _log_retry(
        self, method: str, template: str, failure: Transient, attempt: int, pause: float
    ) -> None:
        VENDOR_RETRIES.labels(self.vendor, self.connector, failure.label).inc()
        log.warning(
            "vendor_retry",
            vendor=self.vendor,
            method=method,
            path=template,
            attempt=attempt,
            reason=failure.reason,
            retry_in_ms=round(pause * 1000),
        )
