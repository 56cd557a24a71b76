"""A forward HTTP proxy on loopback that records the absolute URLs it was asked for.

Plain HTTP only (the sandbox is http on loopback): enough to prove that a client
honours ``HTTP_PROXY``, which is what a site behind a corporate proxy depends on.
"""

from __future__ import annotations

import httpx

from tests.support_http import LoopbackServer, Received, Reply

_HOP_BY_HOP = {"proxy-connection", "proxy-authorization", "connection", "keep-alive", "host"}
_FRAMING = {"content-type", "content-length", "transfer-encoding", "connection"}


class RecordingProxy(LoopbackServer):
    """Forwards each request to the absolute URL it names; ``seen`` lists "METHOD URL"."""

    def __init__(self) -> None:
        super().__init__(self._forward)
        self._upstream = httpx.Client(trust_env=False, timeout=30)

    @property
    def seen(self) -> list[str]:
        return [f"{r.method} {r.target}" for r in self.requests]

    def _forward(self, request: Received) -> Reply:
        headers = {k: v for k, v in request.headers.items() if k not in _HOP_BY_HOP}
        answer = self._upstream.request(
            request.method, request.target, content=request.body, headers=headers
        )
        is_json = answer.headers.get("content-type", "").startswith("application/json")
        body = answer.json() if is_json and answer.content else answer.content
        kept = {k: v for k, v in answer.headers.items() if k.lower() not in _FRAMING}
        return Reply(answer.status_code, body, kept)

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self._upstream.close()
