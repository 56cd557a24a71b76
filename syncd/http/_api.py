"""Sending to an HR API (the HTTP source and sink): passing faults retried, the rest answered.

``HrEndpoint`` is what the source and the sink share: the credentials (refused over
plain http to another machine), the retries, and one reading of a failed call as the
caller's own error, secrets masked.

Timeouts, connection errors, 5xx, 408 and 429 are passing faults: they are retried
(``HR_API_RETRIES``: ``Retry-After`` honoured on every one of them, capped) a
bounded number of times. Any other answer goes back to the caller, which decides
what a 4xx means for it. Secrets are never logged: only the method, host, path,
status and attempt.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from syncd import __version__
from syncd.config.schema.sources import HttpAuth
from syncd.http._auth import live_secrets
from syncd.http._configured import auth_secrets, build_auth
from syncd.http._deadline import DeadlinePassed, bounded_routes, within
from syncd.http._proxies import proxy_mounts
from syncd.http._reading import mask_secrets, retry_after, short_body
from syncd.http._retry import HR_API_RETRIES, RetryPolicy, Transient, call_with_retries
from syncd.http._urls import describe_url, refuse_plaintext_credentials
from syncd.http.errors import TokenError, TokenUnavailable, TransportFailure

log = structlog.get_logger(__name__)

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})

USER_AGENT = f"syncd/{__version__}"


@dataclass(frozen=True)
class ReadLimits:
    """What one answer may cost besides httpx's per-read timeout: a server trickling a byte
    every few seconds, or sending a page of gigabytes, is stopped."""

    deadline: float = 300.0  # seconds for the whole call, from sending to the last byte
    max_bytes: int | None = None


def send_with_retries(
    client: httpx.Client,
    build_request: Callable[[], httpx.Request],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    limits: ReadLimits = ReadLimits(),
) -> httpx.Response:
    """Send a request, retrying passing faults; return the first non-retryable answer.

    ``build_request`` is called for every try so each try gets fresh headers.
    Raises TransportFailure when the tries run out or the credentials are refused, or
    when the answer is larger than ``limits.max_bytes``; a try that outlasts
    ``limits.deadline`` is a passing fault like a timeout.
    """
    tried: list[httpx.Request] = []

    def attempt(_number: int) -> httpx.Response:
        request = build_request()
        tried.append(request)
        try:
            response = _read_within(client, request, limits)
        except DeadlinePassed as exc:
            raise Transient(str(exc)) from None
        except httpx.TimeoutException:
            raise Transient(f"timed out after {_timeout_text(client)}") from None
        except httpx.UnsupportedProtocol as exc:
            raise TransportFailure(f"unsupported URL ({exc})") from None
        except httpx.TransportError as exc:
            raise Transient(f"could not connect ({type(exc).__name__})") from None
        except TokenUnavailable as exc:
            raise Transient(f"authentication failed: {exc.reason}", status=exc.status) from None
        except TokenError as exc:
            raise TransportFailure(
                f"authentication failed: {exc.reason}", status=exc.status
            ) from None
        status = response.status_code
        if status not in RETRYABLE_STATUS:
            return response
        wait = retry_after(response)
        response.close()
        raise Transient(f"answered {status}", retry_after=wait, status=status)

    def on_retry(failure: Transient, number: int, pause: float) -> None:
        request = tried[-1]
        log.warning(
            "http_retry",
            method=request.method,
            host=request.url.host,
            path=request.url.path,
            status=failure.status,
            attempt=number,
            wait_s=round(pause, 3),
        )

    try:
        return call_with_retries(attempt, policy, sleep=sleep, on_retry=on_retry)
    except Transient as last:
        raise TransportFailure(
            f"{last.reason} (gave up after {policy.attempts} attempts)", status=last.status
        ) from None


def _read_within(
    client: httpx.Client, request: httpx.Request, limits: ReadLimits
) -> httpx.Response:
    """The answer, read as it streams in, within the deadline and the size limit."""
    started = time.monotonic()
    response = client.send(request, stream=True)
    try:
        body = bytearray()
        for chunk in within(response.iter_bytes(), limits.deadline, started, request):
            body += chunk
            if limits.max_bytes is not None and len(body) > limits.max_bytes:
                raise TransportFailure(
                    f"the answer is larger than {limits.max_bytes:,} bytes; refused unread",
                    status=response.status_code,
                )
    finally:
        response.close()
    # The body is decoded already (a compressed bomb counts at its full size): say so.
    headers = [
        (name, value)
        for name, value in response.headers.multi_items()
        if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    ]
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=bytes(body),
        request=request,
        extensions=response.extensions,
    )


def _timeout_text(client: httpx.Client) -> str:
    read = client.timeout.read
    return f"{read:g}s" if read is not None else "the timeout"


@dataclass(frozen=True)
class HrEndpoint:
    """One HR source's or sink's API as its calls share it: credentials, retries, errors.

    ``error`` is the caller's exception, raised as ``error(name, reason)``; ``secrets``
    are the caller's own secrets beyond the ``auth:`` block's (a signing key), masked
    like them in every message.
    """

    name: str
    error: type[Exception]
    auth_config: HttpAuth | None
    auth: httpx.Auth | None
    retry: RetryPolicy
    secrets: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        name: str,
        url: str,
        auth_config: HttpAuth | None,
        error: type[Exception],
        *,
        retry: RetryPolicy | None = None,
        auth: httpx.Auth | None = None,
        secrets: tuple[str, ...] = (),
    ) -> HrEndpoint:
        """The endpoint at ``url``; raises ``error`` when credentials would travel in clear.

        ``auth`` overrides the flow ``auth_config`` asks for (tests with a fake clock).
        """
        refuse_plaintext_credentials(url, auth_config is not None, name, error)
        return cls(
            name,
            error,
            auth_config,
            auth if auth is not None else build_auth(auth_config),
            retry or HR_API_RETRIES,
            secrets,
        )

    def client(
        self, timeout: float, deadline: float, headers: Mapping[str, str], **options: Any
    ) -> httpx.Client:
        """A client of this endpoint: its credentials, syncd's User-Agent, then ``headers``
        (the configured ones win). Every call, the wait for the answer's head included,
        ends ``deadline`` seconds after sending; the environment's proxies are kept."""
        direct, mounts = bounded_routes(deadline, proxy_mounts)
        return httpx.Client(
            auth=self.auth,
            timeout=timeout,
            headers={"User-Agent": USER_AGENT, **headers},
            transport=direct,
            mounts=mounts,
            **options,
        )

    def send(
        self,
        client: httpx.Client,
        build_request: Callable[[], httpx.Request],
        where: str,
        limits: ReadLimits = ReadLimits(),
    ) -> httpx.Response:
        """A successful answer, or ``error`` naming ``where`` and the cause, secrets masked."""
        try:
            response = send_with_retries(client, build_request, self.retry, limits=limits)
        except TransportFailure as exc:
            raise self.error(self.name, f"{where}: {self.mask(exc.reason)}") from None
        if not response.is_success:
            detail = short_body(response, self.all_secrets())
            raise self.error(
                self.name,
                f"{where} answered {response.status_code}" + (f": {detail}" if detail else ""),
            )
        return response

    def all_secrets(self) -> tuple[str, ...]:
        """Every secret a message could echo, including tokens the auth flow fetched."""
        return (*auth_secrets(self.auth_config), *live_secrets(self.auth), *self.secrets)

    def mask(self, text: str) -> str:
        return mask_secrets(text, self.all_secrets())

    def show(self, url: httpx.URL | str) -> str:
        """A URL for a message: no user:password, no secret."""
        return self.mask(describe_url(url))
