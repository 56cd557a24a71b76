"""``syncd health``: asks the running daemon's ``/healthz`` on the configured address.

The container's health check runs it, so the port is the configuration's
``server.listen`` and never a second copy of it in the Dockerfile. A daemon listening
on every address (``0.0.0.0``, ``::``) is asked on loopback.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from syncd.config import ServerConfig

_ANY = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}
TIMEOUT_SECONDS = 4.0


@dataclass(frozen=True, slots=True)
class Probe:
    healthy: bool
    says: str  # what the daemon answered, or why it could not be asked


def health_url(server: ServerConfig) -> str:
    """Where ``server.listen`` serves ``/healthz`` from this machine."""
    host = _ANY.get(server.host, server.host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{server.port}/healthz"


def probe(server: ServerConfig) -> Probe:
    """Whether the daemon answers 200 on ``/healthz`` at the configured address."""
    url = health_url(server)
    try:
        answer = httpx.get(url, timeout=TIMEOUT_SECONDS)
    except httpx.HTTPError as error:
        return Probe(False, f"no answer from {url}: {error or type(error).__name__}")
    return Probe(answer.status_code == 200, f"{url}: {answer.status_code} {answer.text.strip()}")
