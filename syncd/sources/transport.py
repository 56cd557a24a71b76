"""Bounded, jittered retries for the HR HTTP source and sink.

Timeouts, connection errors, 5xx, 408 and 429 are passing faults: they are
retried with exponential backoff and jitter (honouring ``Retry-After``, capped)
a bounded number of times. Any other answer goes back to the caller, which
decides what a 4xx means for it. Secrets are never logged: only the method,
host, path, status and attempt.
"""

from __future__ import annotations

import ipaddress
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
import structlog

from syncd.httpauth import TokenError

log = structlog.get_logger(__name__)

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry a passing fault."""

    attempts: int = 5  # total tries, the first included
    base_delay: float = 0.5  # seconds before the second try; doubles each time
    max_delay: float = 30.0  # cap of one wait, Retry-After included

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Wait before try ``attempt + 1``: half fixed, half random ("equal jitter")."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        jittered = ceiling / 2 + random.uniform(0, ceiling / 2)
        if retry_after is not None:
            return min(self.max_delay, max(jittered, retry_after))
        return jittered


class TransportFailure(Exception):
    """Every try failed with a passing fault, or the token endpoint refused."""

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


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
    reason = "no attempt made"
    status: int | None = None
    for attempt in range(1, policy.attempts + 1):
        request = build_request()
        retry_after: float | None = None
        try:
            response = client.send(request)
        except httpx.TimeoutException:
            reason, status = f"timed out after {_timeout_text(client)}", None
        except httpx.UnsupportedProtocol as exc:
            raise TransportFailure(f"unsupported URL ({exc})") from None
        except httpx.TransportError as exc:
            reason, status = f"could not connect ({type(exc).__name__})", None
        except TokenError as exc:
            if not exc.retryable:
                raise TransportFailure(
                    f"authentication failed: {exc.reason}", status=exc.status
                ) from None
            reason, status = f"authentication failed: {exc.reason}", exc.status
        else:
            if response.status_code not in RETRYABLE_STATUS:
                return response
            status = response.status_code
            reason = f"answered {status}"
            retry_after = _retry_after(response)
            response.close()
        if attempt < policy.attempts:
            wait = policy.delay(attempt, retry_after)
            log.warning(
                "http_retry",
                method=request.method,
                host=request.url.host,
                path=request.url.path,
                status=status,
                attempt=attempt,
                wait_s=round(wait, 3),
            )
            sleep(wait)
    raise TransportFailure(f"{reason} (gave up after {policy.attempts} attempts)", status=status)


def _timeout_text(client: httpx.Client) -> str:
    read = client.timeout.read
    return f"{read:g}s" if read is not None else "the timeout"


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def describe_url(url: httpx.URL | str) -> str:
    """A URL for messages: scheme, host, port, path and query, never user:password."""
    parsed = httpx.URL(str(url))
    return str(parsed.copy_with(username=None, password=None))


def refuse_plaintext_credentials(
    url: str, has_credentials: bool, name: str, error: type[Exception]
) -> None:
    """Credentials travel only over https, or plain http to this machine (loopback)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise error(name, f"invalid url: {exc}") from None
    if parsed.scheme not in ("http", "https"):
        raise error(name, f"url must be http(s), got {parsed.scheme or 'no scheme'!r}")
    if has_credentials and parsed.scheme == "http" and not is_loopback(parsed.host):
        raise error(
            name, f"refusing to send credentials over plain http to {parsed.host}: use https"
        )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
