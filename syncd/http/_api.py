"""Sending to an HR API (the HTTP source and sink): passing faults retried, the rest answered.

Timeouts, connection errors, 5xx, 408 and 429 are passing faults: they are retried
(``HR_API_RETRIES``: ``Retry-After`` honoured on every one of them, capped) a
bounded number of times. Any other answer goes back to the caller, which decides
what a 4xx means for it. Secrets are never logged: only the method, host, path,
status and attempt.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import structlog

from syncd.http._reading import retry_after
from syncd.http._retry import RetryPolicy, Transient, call_with_retries
from syncd.http.errors import TokenError, TokenUnavailable, TransportFailure

log = structlog.get_logger(__name__)

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def send_with_retries(
    client: httpx.Client,
    build_request: Callable[[], httpx.Request],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> httpx.Response:
    """Send a request, retrying passing faults; return the first non-retryable answer.

    ``build_request`` is called for every try so each try gets fresh headers.
    Raises TransportFailure when the tries run out or the credentials are refused.
    """
    tried: list[httpx.Request] = []

    def attempt(_number: int) -> httpx.Response:
        request = build_request()
        tried.append(request)
        try:
            response = client.send(request)
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


def _timeout_text(client: httpx.Client) -> str:
    read = client.timeout.read
    return f"{read:g}s" if read is not None else "the timeout"
