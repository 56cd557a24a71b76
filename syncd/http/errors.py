"""What a call over HTTP can end in, for vendors, HR sources and sinks alike.

The engine decides by these types: ``AuthenticationError`` and ``UnreachableError``
stop a connector's cycle (exit code 4); ``RecordRejected`` and ``OutcomeUnknown``
belong to one record and leave the rest of the batch going. HR sources and sinks
turn ``TransportFailure`` into their own error, which the engine treats as theirs.
"""

from __future__ import annotations

from syncd.limits import RateLimitTimeout


class VendorError(Exception):
    """Base of the errors adapters raise for a whole call (not one record).

    ``status`` is the vendor's last HTTP status when one came: a cycle that ends on this
    error logs it beside the message, so an operator reads "401" without parsing text.
    """

    def __init__(self, message: str = "", *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthenticationError(VendorError):
    """Credentials refused twice: the connector stops (exit code 4)."""


class PortalRefused(AuthenticationError):
    """The vendor refused the whole portal, not one record (TalentLMS 403: the API is not
    enabled for the domain, or the domain is inactive): the cycle ends, exit 4, and its
    operations wait, unsent, for the next one."""


class UnreachableError(VendorError):
    """The vendor could not be reached after every retry (exit code 4)."""


class RateLimitWaitTooLong(UnreachableError, RateLimitTimeout):
    """The rate limit would hold a call longer than its client may wait: unreachable for now."""


class TokenError(VendorError):
    """The token endpoint gave no usable token; ``reason`` says why without secrets.

    ``reason`` reads ``token endpoint answered 401: invalid_client`` (what HR sources
    quote); the message names the client and what to check.
    """

    def __init__(self, message: str, *, reason: str, status: int | None = None) -> None:
        super().__init__(message, status=status)
        self.reason = reason


class TokenUnavailable(TokenError):
    """The token endpoint failed in a way a later attempt may not (5xx, 408, 429): retry."""


class TokenRefused(TokenError, AuthenticationError):
    """The token endpoint refused the client credentials, or answered without a token."""


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


class TransportFailure(Exception):
    """An HR API call got no usable answer: every try failed, or the credentials were refused.

    ``reason`` is ready to quote (secrets still to be masked by the caller, which
    knows them); ``status`` is the last HTTP status, when there was one.
    """

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
