"""Authentication as httpx ``Auth`` flows: fixed headers, and the OAuth2 client-credentials grant.

TalentLMS and iLMS send fixed headers on every call, an HR API perhaps a bearer
token. HowNow, Learning Pool and HR APIs may use the OAuth2 client-credentials
grant (RFC 6749 §4.4): the flow yields the token request itself, so on a vendor's
client it travels through the same transport as every other call and counts against
the credential's rate limit. Tokens are cached per credential (by default for the
whole process: every client of one credential shares one token), renewed a margin
before they expire, and renewed once more when the server answers 401 anyway (a
token revoked early, a clock skew); a request refused again is the caller's to judge.

Why not Authlib's httpx client: it would fetch tokens outside our transport, so
token calls would escape the rate limit and the call log, and it keeps one token
per client where several connectors share one credential.

Every flow here can list its secrets (``secrets()``) so messages can be scrubbed;
the long-lived ones are also handed to the log redactor.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NoReturn
from urllib.parse import quote_plus

import httpx
import structlog

from syncd.http._reading import oauth_error, short_body
from syncd.http._transport import CALL_EXTENSION
from syncd.http.errors import TokenRefused, TokenUnavailable
from syncd.logs import add_secrets

log = structlog.get_logger(__name__)


def live_secrets(auth: httpx.Auth | None) -> list[str]:
    """The secrets an auth flow holds now (its credential, its current token), to mask."""
    secrets = getattr(auth, "secrets", None)
    return list(secrets()) if callable(secrets) else []


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


def bearer_auth(token: str) -> StaticHeaderAuth:
    """A fixed bearer token in the Authorization header."""
    return StaticHeaderAuth({"Authorization": f"Bearer {token}"}, secret_headers=["Authorization"])


def basic_header(user: str, password: str) -> str:
    """HTTP Basic for a client: both parts form-urlencoded first (RFC 6749 §2.3.1)."""
    pair = f"{quote_plus(user)}:{quote_plus(password)}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


# ---------------------------------------------------------------------------------------------
# OAuth2 client credentials


@dataclass(frozen=True, slots=True)
class AccessToken:
    value: str
    renew_at: float | None  # on the flow's clock; None: renewed on 401 only


class TokenCache:
    """Access tokens by credential.

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
    """OAuth2 client-credentials grant with a cached token, renewed before expiry and on 401.

    ``client_auth`` is how the client proves itself to the token endpoint: ``basic``
    (HTTP Basic, which RFC 6749 §2.3.1 requires servers to support) or ``post``
    (client_id and client_secret in the body). ``body`` is how the token request is
    encoded: ``form`` (``application/x-www-form-urlencoded``) or ``json``. A token is
    renewed ``refresh_margin`` seconds (at most a tenth of its life) before it
    expires; one without ``expires_in`` lives ``default_lifetime``, or until a 401
    when that is None. ``name`` labels logs and errors (the vendor; else the host).
    """

    requires_request_body = True  # the request is sent again after a 401
    requires_response_body = True  # the token answer is read inside the flow
    renews_on_401 = True

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        name: str | None = None,
        token_path: str | None = None,
        client_auth: Literal["basic", "post"] = "basic",
        body: Literal["form", "json"] = "form",
        scope: str | None = None,
        refresh_margin: float = 300.0,
        default_lifetime: float | None = 3600.0,
        cache: TokenCache = TOKENS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name or httpx.URL(token_url).host
        self._token_url = token_url
        self._token_path = token_path or httpx.URL(token_url).path
        self._form = {"grant_type": "client_credentials"}
        if scope:
            self._form["scope"] = scope
        self._headers = {"Accept": "application/json"}
        if client_auth == "post":
            self._form.update(client_id=client_id, client_secret=client_secret)
        else:
            self._headers["Authorization"] = basic_header(client_id, client_secret)
        self._body = body
        self._refresh_margin = refresh_margin
        self._default_lifetime = default_lifetime
        self._cache = cache
        self._clock = clock
        self._client_secret = client_secret
        self._key = hashlib.sha256(
            "\0".join((token_url, client_id, client_secret, scope or "")).encode()
        ).hexdigest()
        add_secrets([client_secret])

    def secrets(self) -> list[str]:
        """Values that must never appear in a message: the secret and the live token."""
        token = self._cache.get(self._key)
        return [self._client_secret, *([token.value] if token else [])]

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = yield from self._token(request, stale=None)
        request.headers["Authorization"] = f"Bearer {token.value}"
        response = yield request
        if response.status_code != 401:
            return
        log.info("oauth_token_refused", name=self.name)
        token = yield from self._token(request, stale=token)
        request.headers["Authorization"] = f"Bearer {token.value}"
        yield request

    def _token(
        self, request: httpx.Request, stale: AccessToken | None
    ) -> Generator[httpx.Request, httpx.Response, AccessToken]:
        """The cached token, or a fresh one when it is missing, due for renewal or ``stale``."""
        with self._cache.lock(self._key):
            current = self._cache.get(self._key)
            now = self._clock()
            if current is not None and current is not stale and not _due(current, now):
                return current
            response = yield self._token_request(request)
            token = self._parse(response, now)
            self._cache.put(self._key, token)
            renew_in = None if token.renew_at is None else round(token.renew_at - now, 1)
            log.info("oauth_token_issued", name=self.name, renew_in_s=renew_in)
            return token

    def _token_request(self, parent: httpx.Request) -> httpx.Request:
        extensions: dict[str, Any] = {}
        context = parent.extensions.get(CALL_EXTENSION)
        if context is not None:
            extensions[CALL_EXTENSION] = context.derive(self._token_path)
        body: dict[str, Any] = {"json" if self._body == "json" else "data": self._form}
        return httpx.Request(
            "POST", self._token_url, headers=self._headers, extensions=extensions, **body
        )

    def _parse(self, response: httpx.Response, asked_at: float) -> AccessToken:
        status = response.status_code
        if not 200 <= status < 300:
            detail = oauth_error(response) or short_body(response, self.secrets())
            reason = f"token endpoint answered {status}" + (f": {detail}" if detail else "")
            if status in (408, 429) or status >= 500:
                raise TokenUnavailable(f"{self.name}: the {reason}", reason=reason, status=status)
            raise TokenRefused(
                f"{self.name} refused the client credentials at its token endpoint "
                f"(HTTP {status}{': ' + detail if detail else ''}); "
                "check client_id and client_secret",
                reason=reason,
                status=status,
            )
        try:
            payload = response.json()
        except ValueError:
            self._unusable("token endpoint answered with something other than JSON", status)
        value = payload.get("access_token") if isinstance(payload, dict) else None
        if not isinstance(value, str) or not value:
            self._unusable("token endpoint answer has no access_token", status)
        seconds = _seconds(payload.get("expires_in")) or self._default_lifetime
        if seconds is None:
            return AccessToken(value, renew_at=None)
        margin = min(self._refresh_margin, seconds * 0.1)
        return AccessToken(value, renew_at=asked_at + seconds - margin)

    def _unusable(self, reason: str, status: int) -> NoReturn:
        raise TokenRefused(
            f"{self.name}: the {reason} (HTTP {status})", reason=reason, status=status
        )


def _due(token: AccessToken, now: float) -> bool:
    return token.renew_at is not None and now >= token.renew_at


def _seconds(value: Any) -> float | None:
    """A positive lifetime in seconds, else None."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds > 0 else None
