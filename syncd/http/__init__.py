"""One HTTP stack for vendors, HR sources and sinks: auth flows, retries, answers, errors.

- ``VendorClient``: a vendor credential's client, the rate limiter in its transport;
- ``send_with_retries``: one call to an HR API, passing faults retried; ``HrEndpoint``:
  what an HR source's or sink's calls share (credentials, retries, masked errors);
- ``StaticHeaderAuth``, ``bearer_auth``, ``ClientCredentialsAuth``: httpx ``Auth`` flows;
  ``build_auth``: the flow an HR source's or sink's ``auth:`` block asks for;
- ``RetryPolicy``: how hard a call tries (tenacity underneath, for both);
- reading answers: ``vendor_message``, ``json_payload``, ``excerpt``, ``retry_after``;
- ``syncd.http.errors``: what a call can end in.

The modules behind this one are private; import from here (or from ``errors``).
This package depends only on ``syncd.limits``, the configuration schema and the vocabulary
(``syncd.logs``, ``syncd.metrics``, ``syncd.shutdown``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from syncd.http._api import (
        RETRYABLE_STATUS,
        HrEndpoint,
        ReadLimits,
        send_with_retries,
    )
    from syncd.http._auth import (
        TOKENS,
        ClientCredentialsAuth,
        StaticHeaderAuth,
        TokenCache,
        bearer_auth,
        live_secrets,
    )
    from syncd.http._client import (
        IDEMPOTENT_METHODS,
        VendorClient,
        fill_path,
    )
    from syncd.http._configured import (
        auth_secrets,
        build_auth,
    )
    from syncd.http._deadline import BoundedTransport
    from syncd.http._reading import (
        MESSAGE_LIMIT,
        excerpt,
        json_object,
        json_payload,
        mask_secrets,
        retry_after,
        short_body,
        vendor_message,
        whole_number,
    )
    from syncd.http._retry import (
        HR_API_RETRIES,
        RetryPolicy,
    )
    from syncd.http._transport import (
        CALL_EXTENSION,
        CallContext,
        RateLimitHeaders,
    )
    from syncd.http._urls import (
        HTTPS_ONLY_MESSAGE,
        check_vendor_url,
        describe_url,
        is_loopback_host,
        refuse_plaintext_credentials,
    )
    from syncd.http.errors import (
        AuthenticationError,
        OutcomeUnknown,
        PortalRefused,
        RateLimitWaitTooLong,
        RecordRejected,
        TokenError,
        TokenRefused,
        TokenUnavailable,
        TransportFailure,
        UnreachableError,
        VendorError,
    )


def __getattr__(name: str) -> Any:
    """Every part of the package loads the first time one name is asked for: importing
    ``syncd.http.errors`` alone (as the engine does) loads neither them nor httpx."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from syncd.http import (
        _api,
        _auth,
        _client,
        _configured,
        _deadline,
        _reading,
        _retry,
        _transport,
        _urls,
        errors,
    )

    parts = (_api, _auth, _client, _configured, _deadline, _reading, _retry, _transport, _urls)
    for part in (*parts, errors):
        if hasattr(part, name):
            return getattr(part, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CALL_EXTENSION",
    "HR_API_RETRIES",
    "HTTPS_ONLY_MESSAGE",
    "IDEMPOTENT_METHODS",
    "MESSAGE_LIMIT",
    "RETRYABLE_STATUS",
    "TOKENS",
    "AuthenticationError",
    "BoundedTransport",
    "CallContext",
    "ClientCredentialsAuth",
    "HrEndpoint",
    "OutcomeUnknown",
    "PortalRefused",
    "RateLimitHeaders",
    "RateLimitWaitTooLong",
    "ReadLimits",
    "RecordRejected",
    "RetryPolicy",
    "StaticHeaderAuth",
    "TokenCache",
    "TokenError",
    "TokenRefused",
    "TokenUnavailable",
    "TransportFailure",
    "UnreachableError",
    "VendorClient",
    "VendorError",
    "auth_secrets",
    "bearer_auth",
    "build_auth",
    "check_vendor_url",
    "describe_url",
    "excerpt",
    "fill_path",
    "is_loopback_host",
    "json_object",
    "json_payload",
    "live_secrets",
    "mask_secrets",
    "refuse_plaintext_credentials",
    "retry_after",
    "send_with_retries",
    "short_body",
    "vendor_message",
    "whole_number",
]
