"""httpx authentication for the HR HTTP source and sink: bearer, basic, OAuth2.

OAuth2 client credentials follows httpx's ``auth_flow`` shape: the flow yields
the token request itself (so it works the same on any client), caches the
token, renews it shortly before it expires, and renews it once more when the
API answers 401 anyway (a token revoked early, a clock skew).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Generator, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

import httpx
import structlog

if TYPE_CHECKING:  # importing syncd.sources here would be circular (its transport uses us)
    from syncd.config.schema.sources import HttpAuth

log = structlog.get_logger(__name__)

MASK = "****"
_MAX_RENEW_MARGIN = 60.0  # seconds before expiry at which a token is renewed
_MESSAGE_LIMIT = 200


class TokenError(Exception):
    """The token endpoint refused or failed; ``retryable`` when a later try may succeed."""

    def __init__(self, reason: str, *, status: int | None = None, retryable: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retryable = retryable


def mask_secrets(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value replaced, for error messages that quote a server."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def short_body(response: httpx.Response, secrets: Iterable[str] = ()) -> str:
    """A one-line excerpt of a response body for an error message (never a whole page)."""
    try:
        text = response.text
    except (UnicodeDecodeError, httpx.ResponseNotRead):
        return ""
    text = " ".join(text.split())
    if len(text) > _MESSAGE_LIMIT:
        text = text[:_MESSAGE_LIMIT] + "..."
    return mask_secrets(text, secrets)


class BearerTokenAuth(httpx.Auth):
    """A fixed bearer token in the Authorization header."""

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request


class ClientCredentialsAuth(httpx.Auth):
    """OAuth2 client credentials grant with a cached token (RFC 6749 §4.4).

    ``client_auth`` chooses how the client authenticates to the token endpoint:
    ``basic`` (HTTP Basic, which RFC 6749 §2.3.1 requires servers to support)
    or ``post`` (client_id and client_secret in the form body).
    """

    requires_request_body = True  # the request is re-sent after a 401
    requires_response_body = True  # the token response is parsed inside the flow

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        scope: str | None = None,
        client_auth: str = "basic",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._scope = scope
        self._client_auth = client_auth
        self._clock = clock
        self._token: str | None = None
        self._renew_at: float | None = None  # None: no expiry given, renewed on 401 only

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in a message (the secret and the live token)."""
        return tuple(s for s in (self._client_secret, self._token) if s)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._needs_token():
            token_response = yield self._token_request()
            self._store(token_response)
        request.headers["Authorization"] = f"Bearer {self._token}"
        response = yield request
        if response.status_code == 401:
            log.info("oauth_token_renew_on_401", token_host=httpx.URL(self._token_url).host)
            token_response = yield self._token_request()
            self._store(token_response)
            request.headers["Authorization"] = f"Bearer {self._token}"
            yield request

    def _needs_token(self) -> bool:
        if self._token is None:
            return True
        return self._renew_at is not None and self._clock() >= self._renew_at

    def _token_request(self) -> httpx.Request:
        form = {"grant_type": "client_credentials"}
        if self._scope:
            form["scope"] = self._scope
        headers = {"Accept": "application/json"}
        if self._client_auth == "post":
            form["client_id"] = self._client_id
            form["client_secret"] = self._client_secret
        else:
            headers["Authorization"] = _basic_header(self._client_id, self._client_secret)
        return httpx.Request("POST", self._token_url, data=form, headers=headers)

    def _store(self, response: httpx.Response) -> None:
        status = response.status_code
        if status != 200:
            retryable = status >= 500 or status in (408, 429)
            detail = _oauth_error(response) or short_body(response, self.secrets)
            raise TokenError(
                f"token endpoint answered {status}" + (f": {detail}" if detail else ""),
                status=status,
                retryable=retryable,
            )
        try:
            payload: Any = response.json()
        except ValueError:
            raise TokenError("token endpoint answered with something other than JSON") from None
        token = payload.get("access_token") if isinstance(payload, dict) else None
        if not isinstance(token, str) or not token:
            raise TokenError("token endpoint answer has no access_token")
        self._token = token
        self._renew_at = None
        lifetime = _seconds(payload.get("expires_in"))
        if lifetime is not None:
            margin = min(_MAX_RENEW_MARGIN, lifetime / 10)
            self._renew_at = self._clock() + lifetime - margin
        log.info("oauth_token_issued", token_host=response.request.url.host, expires_in=lifetime)


def _basic_header(user: str, password: str) -> str:
    # RFC 6749 §2.3.1: both parts are form-urlencoded before the Basic encoding.
    pair = f"{quote_plus(user)}:{quote_plus(password)}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def _seconds(value: Any) -> float | None:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds > 0 else None


def _oauth_error(response: httpx.Response) -> str:
    """The RFC 6749 §5.2 error code and description, which name the problem without secrets."""
    try:
        payload = response.json()
    except ValueError:
        return ""
    if not isinstance(payload, dict) or not isinstance(payload.get("error"), str):
        return ""
    description = payload.get("error_description")
    error = payload["error"]
    return f"{error} ({description})" if isinstance(description, str) else error


def build_auth(
    config: HttpAuth | None, *, clock: Callable[[], float] = time.monotonic
) -> httpx.Auth | None:
    """The httpx.Auth for an ``auth:`` block (None when there is none)."""
    if config is None:
        return None
    if config.type == "bearer":
        return BearerTokenAuth(config.token.get_secret_value())
    if config.type == "basic":
        return httpx.BasicAuth(config.username, config.password.get_secret_value())
    if config.type == "oauth2":
        return ClientCredentialsAuth(
            config.token_url,
            config.client_id,
            config.client_secret.get_secret_value(),
            scope=config.scope,
            client_auth=config.client_auth,
            clock=clock,
        )
    raise TypeError(f"unknown auth type {config.type!r}")


def auth_secrets(config: HttpAuth | None) -> tuple[str, ...]:
    """The secret values of an ``auth:`` block, to mask in messages."""
    if config is None:
        return ()
    if config.type == "bearer":
        return (config.token.get_secret_value(),)
    if config.type == "basic":
        return (config.password.get_secret_value(),)
    return (config.client_secret.get_secret_value(),)
