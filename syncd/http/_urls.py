"""Where credentials may travel, and how a URL is shown in a message.

Credentials go only over https, or plain http to this machine (loopback, so the
sandbox and local test servers work). A URL in a message never shows user:password.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import httpx

_LOCAL_NAMES = {"localhost"}
HTTPS_ONLY_MESSAGE = (
    "only https:// URLs are accepted; http:// is allowed only for loopback hosts "
    "(127.0.0.0/8, ::1, localhost)"
)


def is_loopback_host(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``: the only hosts plain http may reach."""
    host = host.strip("[]").lower()
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_vendor_url(value: str) -> str:
    """Refuse anything but https (or http to loopback); return the URL without a trailing slash."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL with a host (e.g. https://acme.example)")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ValueError(HTTPS_ONLY_MESSAGE)
    if parts.username or parts.password:
        raise ValueError("must not carry credentials; put them in the target's credential keys")
    if parts.query or parts.fragment:
        raise ValueError("must not carry a query or fragment; syncd appends the documented paths")
    return value.strip().rstrip("/")


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
