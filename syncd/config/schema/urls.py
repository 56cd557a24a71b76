"""Vendor URLs: https only, plain http to loopback hosts alone (so the sandbox works)."""

from __future__ import annotations

import ipaddress
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BeforeValidator

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


VendorUrl = Annotated[
    str, BeforeValidator(lambda v: check_vendor_url(v) if isinstance(v, str) else v)
]
