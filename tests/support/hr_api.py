"""A scripted HR API on loopback, as a bad-input case describes it (``hr_api:`` in case.yaml).

    hr_api:
      pages:                       # by path and query, the JSON each answers
        /people: {data: [...], next: "{url}/people?page=2"}
        /login: "<html>...</html>"   # a string is sent as it is, not as JSON
      status: {/people: 401}       # answers other than 200
      trickle: 0.05                # seconds between the bytes of every answer
      head_trickle: 0.1            # ... of every answer's status line and headers
      endless: true                # an unlisted /people?page=N links on to N+1, for ever

In strings, ``{url}`` is this server's URL and ``{other_host}`` the same server under
another host name (``localhost`` instead of ``127.0.0.1``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support_http import LoopbackServer, Received, Reply


class ScriptedHrApi(LoopbackServer):
    """Answers the pages of ``script``; see the module's docstring."""

    def __init__(self, script: dict[str, Any]) -> None:
        self.script = script
        super().__init__(self._answer)

    @property
    def other_host(self) -> str:
        return self.url.replace("127.0.0.1", "localhost")

    def _fill(self, value: Any) -> Any:
        if isinstance(value, str):
            return value.replace("{url}", self.url).replace("{other_host}", self.other_host)
        if isinstance(value, list):
            return [self._fill(item) for item in value]
        if isinstance(value, dict):
            return {key: self._fill(item) for key, item in value.items()}
        return value

    def _answer(self, request: Received) -> Reply:
        trickle = float(self.script.get("trickle", 0.0))
        status = self.script.get("status", {}).get(request.target, 200)
        pages = self.script.get("pages", {})
        if request.target in pages:
            body = self._fill(pages[request.target])
            if isinstance(body, str):
                body = body.encode()
            head_trickle = float(self.script.get("head_trickle", 0.0))
            return Reply(status, body, trickle=trickle, head_trickle=head_trickle)
        if self.script.get("endless"):
            page = int(parse_qs(urlsplit(request.target).query).get("page", ["1"])[-1])
            return Reply(200, {"data": [], "next": f"{self.url}/people?page={page + 1}"})
        return Reply(404, {"error": f"no page {request.target}"})
