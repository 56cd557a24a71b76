"""``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` and ``NO_PROXY`` for vendor clients.

httpx reads these only when it builds its own transport; vendor clients bring theirs
(the rate-limited one), so they read them here and mount one transport per proxy,
the way httpx would, so a site behind a corporate proxy reaches its LMS.
"""

from __future__ import annotations

import ipaddress
import urllib.request
from collections.abc import Callable

import httpx


def proxy_routes() -> dict[str, str | None]:
    """URL patterns (httpx ``mounts`` keys) to a proxy URL, or None for "go direct"."""
    found = urllib.request.getproxies()
    if found.get("no", "").strip() == "*":
        return {}
    routes: dict[str, str | None] = {}
    for scheme in ("http", "https", "all"):
        url = found.get(scheme)
        if url:
            routes[f"{scheme}://"] = url if "://" in url else f"http://{url}"
    if not routes:
        return {}
    for host in filter(None, (h.strip() for h in found.get("no", "").split(","))):
        routes[_bypass_pattern(host)] = None
    return routes


def _bypass_pattern(host: str) -> str:
    if "://" in host:
        return host
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        name = host.lstrip(".").lower()
        return "all://localhost" if name == "localhost" else f"all://*{name}"
    return f"all://[{address}]" if address.version == 6 else f"all://{address}"


def proxy_mounts(
    direct: httpx.BaseTransport, through: Callable[[str], httpx.BaseTransport]
) -> dict[str, httpx.BaseTransport]:
    """httpx ``mounts``: ``through(proxy_url)`` for proxied patterns, ``direct`` for bypasses."""
    return {
        pattern: direct if proxy is None else through(proxy)
        for pattern, proxy in proxy_routes().items()
    }
