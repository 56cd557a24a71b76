"""The httpx ``Auth`` for an HR source's or sink's ``auth:`` block (bearer, basic, OAuth2).

The flows themselves are the HTTP stack's (``syncd.http``); this module only reads
the configuration. An OAuth2 block keeps its own token cache, renews a token a
minute (at most a tenth of its life) before it expires, and renews one given
without an expiry only when the API answers 401.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from syncd.config.schema.sources import HttpAuth
from syncd.http._auth import ClientCredentialsAuth, TokenCache, bearer_auth

OAUTH_REFRESH_MARGIN = 60.0  # seconds before expiry at which a token is renewed (at most)


def build_auth(
    config: HttpAuth | None, *, clock: Callable[[], float] = time.monotonic
) -> httpx.Auth | None:
    """The httpx.Auth for an ``auth:`` block (None when there is none)."""
    if config is None:
        return None
    if config.type == "bearer":
        return bearer_auth(config.token.get_secret_value())
    if config.type == "basic":
        return httpx.BasicAuth(config.username, config.password.get_secret_value())
    if config.type == "oauth2":
        return ClientCredentialsAuth(
            config.token_url,
            config.client_id,
            config.client_secret.get_secret_value(),
            scope=config.scope,
            client_auth=config.client_auth,
            refresh_margin=OAUTH_REFRESH_MARGIN,
            default_lifetime=None,
            cache=TokenCache(),
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
