"""Vendor authentication as httpx ``Auth`` flows: static credential headers and OAuth2.

TalentLMS and iLMS send fixed headers on every call. HowNow and Learning Pool use
the OAuth2 client-credentials grant: the flow yields the token request itself, so
it travels through the same transport as every other call and counts against the
credential's rate limit. Tokens are cached per credential for the whole process
(every client of one credential shares one token), renewed a margin before they
expire, and renewed once more when the vendor answers 401 anyway; if the retried
request is refused again the client raises ``AuthenticationError``.

Why not Authlib's httpx client: it would fetch tokens outside our transport, so
token calls would escape the rate limit and the call log, and it keeps one token
per client where several connectors share one credential.

Every object here can list its secrets (``secrets()``) so error messages can be
scrubbed; the long-lived ones are also handed to the log redactor.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import structlog

from syncd.logs import add_secrets
from syncd.vendors.base import AuthenticationError, VendorError

log = structlog.get_logger(__name__)

CALL_EXTENSION = "syncd.call"
"""Request extension carrying the call's context (path template, priority) to the transport."""


class TokenUnavailable(VendorError):
    """The token endpoint failed in a way a later attempt may not (5xx, 408): retry the call."""


class StaticHeaderAuth(httpx.Auth):
    """Fixed headers on every request; the values of ``secret_headers`` are secrets."""

    renews_on_401 = False

    def __init__(self, headers: Mapping[str, str], *, secret_headers: Iterable[str] = ()) -> None:
        self._headers = dict(headers)
        names = {name.lower() for name in secret_headers}
        self._secrets = [value for name, value in self._headers.items() if name.lower() in names]
        add_secrets(self._secrets)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        for name, value in self._headers.items():
            request.headers[name] = value
        yield request

    def secrets(self) -> list[str]:
        return list(self._secrets)


def talentlms_auth(api_key: str, api_version: str) -> StaticHeaderAuth:
    """TalentLMS API v2: ``X-API-Key``, a pinned ``X-API-Version``, ``Accept: application/json``."""
    return StaticHeaderAuth(
        {"X-API-Key": api_key, "X-API-Version": api_version, "Accept": "application/json"},
        secret_headers=["X-API-Key"],
    )


def ilms_auth(api_login_id: str, transaction_key: str, org_id: str) -> StaticHeaderAuth:
    """iLMS: ``APILoginID``, ``TransactionKey`` and ``OrgID`` headers, sent as given."""
    return StaticHeaderAuth(
        {
            "APILoginID": api_login_id,
            "TransactionKey": transaction_key,
            "OrgID": str(org_id),
            "Accept": "application/json",
        },
        secret_headers=["APILoginID", "TransactionKey"],
    )


# ---------------------------------------------------------------------------------------------
# OAuth2 client credentials


@dataclass(frozen=True, slots=True)
class AccessToken:
    value: str
    token_type: str
    renew_at: float  # on the cache's monotonic clock


class TokenCache:
    """Access tokens by credential, shared by every client of the process.

    One lock per credential: while a token is being fetched, other callers of the
    same credential wait for it instead of fetching their own.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._tokens: dict[str, AccessToken] = {}

    def lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def get(self, key: str) -> AccessToken | None:
        return self._tokens.get(key)

    def put(self, key: str, token: AccessToken) -> None:
        self._tokens[key] = token

    def clear(self) -> None:
        self._tokens.clear()


TOKENS = TokenCache()
"""The process-wide token cache."""


class ClientCredentialsAuth(httpx.Auth):
    """OAuth2 client-credentials grant (RFC 6749 §4.4) with a shared, renewed token.

    ``body`` is how the token request carries the credentials: ``form``
    (``application/x-www-form-urlencoded``, as HowNow requires) or ``json``.
    """

    requires_response_body = True
    renews_on_401 = True

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        vendor: str,
        token_path: str | None = None,
        body: Literal["form", "json"] = "form",
        extra_params: Mapping[str, str] | None = None,
        refresh_margin: float = 300.0,
        default_lifetime: float = 3600.0,
        cache: TokenCache = TOKENS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.vendor = vendor
        self._token_url = token_url
        self._token_path = token_path or httpx.URL(token_url).path
        self._form = {
            **dict(extra_params or {}),
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
        }
        self._body = body
        self._refresh_margin = refresh_margin
        self._default_lifetime = default_lifetime
        self._cache = cache
        self._clock = clock
        self._client_secret = client_secret
        self._key = hashlib.sha256(
            "\0".join((token_url, client_id, client_secret)).encode()
        ).hexdigest()
        add_secrets([client_secret])

    def secrets(self) -> list[str]:
        token = self._cache.get(self._key)
        return [self._client_secret, *([token.value] if token else [])]

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = yield from self._token(request, stale=None)
        request.headers["Authorization"] = f"{token.token_type} {token.value}"
        response = yield request
        if response.status_code != 401:
            return
        log.info("vendor_token_refused", vendor=self.vendor)
        token = yield from self._token(request, stale=token)
        request.headers["Authorization"] = f"{token.token_type} {token.value}"
        yield request

    def _token(
        self, request: httpx.Request, stale: AccessToken | None
    ) -> Generator[httpx.Request, httpx.Response, AccessToken]:
        """The cached token, or a fresh one when it is missing, due for renewal or ``stale``."""
        with self._cache.lock(self._key):
            current = self._cache.get(self._key)
            now = self._clock()
            if current is not None and current is not stale and now < current.renew_at:
                return current
            response = yield self._token_request(request)
            token = self._parse(response, now)
            self._cache.put(self._key, token)
            log.info(
                "vendor_token_issued", vendor=self.vendor, renew_in_s=round(token.renew_at - now, 1)
            )
            return token

    def _token_request(self, parent: httpx.Request) -> httpx.Request:
        headers = {"Accept": "application/json"}
        extensions: dict[str, Any] = {}
        context = parent.extensions.get(CALL_EXTENSION)
        if context is not None:
            extensions[CALL_EXTENSION] = context.derive(self._token_path)
        if self._body == "json":
            return httpx.Request(
                "POST", self._token_url, json=self._form, headers=headers, extensions=extensions
            )
        return httpx.Request(
            "POST", self._token_url, data=self._form, headers=headers, extensions=extensions
        )

    def _parse(self, response: httpx.Response, asked_at: float) -> AccessToken:
        status = response.status_code
        if status == 408 or status >= 500:
            raise TokenUnavailable(f"{self.vendor}: the token endpoint answered HTTP {status}")
        payload = _json_object(response)
        if not 200 <= status < 300:
            code = payload.get("error") if isinstance(payload.get("error"), str) else None
            detail = f" ({code[:60]})" if code else ""
            raise AuthenticationError(
                f"{self.vendor} refused the client credentials at its token endpoint "
                f"(HTTP {status}{detail}); check client_id and client_secret"
            )
        value = payload.get("access_token")
        if not isinstance(value, str) or not value:
            raise AuthenticationError(
                f"{self.vendor}: the token endpoint answered HTTP {status} without an access_token"
            )
        lifetime = payload.get("expires_in")
        try:
            seconds = float(lifetime) if lifetime is not None else self._default_lifetime
        except (TypeError, ValueError):
            seconds = self._default_lifetime
        if not seconds > 0:
            seconds = self._default_lifetime
        token_type = payload.get("token_type")
        if not isinstance(token_type, str) or token_type.lower() == "bearer":
            token_type = "Bearer"
        margin = min(self._refresh_margin, seconds * 0.1)
        return AccessToken(value=value, token_type=token_type, renew_at=asked_at + seconds - margin)


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def hownow_auth(
    base_url: str, client_id: str, client_secret: str, **options: Any
) -> ClientCredentialsAuth:
    """HowNow: ``POST {base_url}/token``, form-encoded client credentials."""
    return ClientCredentialsAuth(
        f"{base_url.rstrip('/')}/token",
        client_id,
        client_secret,
        vendor="hownow",
        token_path="/token",
        **options,
    )


def learningpool_auth(
    base_url: str,
    client_id: str,
    client_secret: str,
    token_path: str = "/oauth/token",
    body: Literal["form", "json"] = "form",
    **options: Any,
) -> ClientCredentialsAuth:
    """Learning Pool Simple API: client credentials at a configurable token path."""
    return ClientCredentialsAuth(
        f"{base_url.rstrip('/')}{token_path}",
        client_id,
        client_secret,
        vendor="learningpool",
        token_path=token_path,
        body=body,
        **options,
    )
