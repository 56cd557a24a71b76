"""Where credentials may travel, and how a URL is shown in a message.

Credentials go only over https, or plain http to this machine (loopback, so the
sandbox and local test servers work). A URL in a message never shows user:password.
The vendor URL rule is the configuration's (``syncd.config.schema.urls``), which
checks ``base_url`` when the file is loaded; the clients apply the same one.
"""

from __future__ import annotations

import httpx

from syncd.config.schema.urls import HTTPS_ONLY_MESSAGE, check_vendor_url, is_loopback_host

__all__ = [
    "HTTPS_ONLY_MESSAGE",
    "check_vendor_url",
    "describe_url",
    "is_loopback_host",
    "refuse_plaintext_credentials",
]


def refuse_plaintext_credentials(
    url: str, has_credentials: bool, name: str, error: type[Exception]
) -> None:
    """Raise ``error(name, reason)`` unless ``url`` is http(s) and credentials stay off plain
    http to other machines."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise error(name, f"invalid url: {exc}") from None
    if parsed.scheme not in ("http", "https"):
        raise error(name, f"url must be http(s), got {parsed.scheme or 'no scheme'!r}")
    if has_credentials and parsed.scheme == "http" and not is_loopback_host(parsed.host):
        raise error(
            name, f"refusing to send credentials over plain http to {parsed.host}: use https"
        )


def describe_url(url: httpx.URL | str) -> str:
    """A URL for messages: scheme, host, port, path and query, never user:password."""
    parsed = httpx.URL(str(url))
    return str(parsed.copy_with(username=None, password=None))
