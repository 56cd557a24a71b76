"""The ASGI application: every vendor under its own prefix on one port, plus the control API.

/{vendor}/...                  the vendor API (base_url = http://host:port/{vendor})
/_sandbox                      vendors and their base URLs
/_sandbox/{vendor}/requests    request log       GET  ?since=SEQ&limit=N
/_sandbox/{vendor}/counters    counts by endpoint template and status
/_sandbox/{vendor}/dump        all vendor data
/_sandbox/{vendor}/seed        POST a seed document
/_sandbox/{vendor}/faults      GET current / POST changes
/_sandbox/{vendor}/reset       POST: back to the start-up state
/_sandbox/{vendor}/...         vendor-specific control calls (e.g. talentlms/complete)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from syncd.sandbox.faults import FaultError
from syncd.sandbox.http import SimRequest, SimResponse
from syncd.sandbox.simulator import OptionsError, Simulator

_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_DROP_KEY = "sandbox.drop"


def _to_starlette(response: SimResponse) -> Response:
    body, media_type = response.encode()
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-type"}
    return Response(body, status_code=response.status, headers=headers, media_type=media_type)


def _trickled(response: SimResponse, pause: float) -> Response:
    """The answer's body a byte at a time, ``pause`` seconds apart: every read arrives in
    time, and the whole answer takes as long as the server likes."""
    body, media_type = response.encode()
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-type"}
    headers["content-length"] = str(len(body))

    async def bytes_one_by_one() -> AsyncIterator[bytes]:
        for index in range(len(body)):
            yield body[index : index + 1]
            await asyncio.sleep(pause)

    return StreamingResponse(
        bytes_one_by_one(), status_code=response.status, headers=headers, media_type=media_type
    )


async def _sim_request(request: Request, path: str, base_url: str) -> SimRequest:
    return SimRequest(
        method=request.method,
        path="/" + path,
        query=list(request.query_params.multi_items()),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=await request.body(),
        base_url=base_url,
    )


def _root(request: Request) -> str:
    return str(request.base_url).rstrip("/")


class ConnectionDropper:
    """Outermost ASGI layer: closes the TCP connection of requests marked as dropped.

    uvicorn hands each request a ``send`` bound to its connection cycle, which owns
    the transport; closing it before any byte is written is what a crashed proxy
    or a reset connection looks like to the client.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        marker = {"drop": False}
        scope[_DROP_KEY] = marker

        async def guarded_send(message: Message) -> None:
            if not marker["drop"]:
                await send(message)

        await self.app(scope, receive, guarded_send)
        if marker["drop"]:
            transport = getattr(getattr(send, "__self__", None), "transport", None)
            if transport is None:
                raise ConnectionAbortedError("sandbox fault: connection dropped")
            transport.close()
            for _ in range(3):  # let the server notice the connection is gone
                await asyncio.sleep(0)


def build_app(simulators: Mapping[str, Simulator]) -> ASGIApp:
    """The sandbox application serving ``simulators`` (vendor name -> simulator)."""

    def sim_or_404(vendor: str) -> Simulator | None:
        return simulators.get(vendor)

    async def index(request: Request) -> Response:
        root = _root(request)
        return JSONResponse(
            {
                "vendors": {
                    name: {
                        "base_url": f"{root}/{name}",
                        "control": f"{root}/_sandbox/{name}",
                        "control_endpoints": sim.control_endpoints(),
                    }
                    for name, sim in simulators.items()
                }
            }
        )

    async def vendor_api(request: Request) -> Response:
        vendor = request.path_params["vendor"]
        sim = sim_or_404(vendor)
        if sim is None:
            return JSONResponse(
                {"error": f"the sandbox does not serve {vendor!r}"}, status_code=404
            )
        try:
            req = await _sim_request(
                request, request.path_params["rest"], f"{_root(request)}/{vendor}"
            )
        except ClientDisconnect:  # the client died mid-request (a kill -9): nobody to answer
            return Response(b"", status_code=499)
        handled = sim.handle(req)
        if handled.latency > 0:
            await asyncio.sleep(handled.latency)
        if handled.response is None:
            request.scope[_DROP_KEY]["drop"] = True
            return Response(b"", status_code=500)  # swallowed by ConnectionDropper
        if handled.trickle > 0:
            return _trickled(handled.response, handled.trickle)
        return _to_starlette(handled.response)

    async def control(request: Request) -> Response:
        vendor = request.path_params["vendor"]
        sim = sim_or_404(vendor)
        if sim is None:
            return JSONResponse(
                {"error": f"the sandbox does not serve {vendor!r}"}, status_code=404
            )
        action = request.path_params["rest"].strip("/")
        try:
            result = await _builtin_control(sim, request, action)
            if result is not None:
                return result
        except (FaultError, OptionsError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        req = await _sim_request(request, action, f"{_root(request)}/_sandbox/{vendor}")
        return _to_starlette(sim.handle_control(req))

    return ConnectionDropper(
        Starlette(
            routes=[
                Route("/_sandbox", index, methods=["GET"]),
                Route("/_sandbox/", index, methods=["GET"]),
                Route("/_sandbox/{vendor}/{rest:path}", control, methods=_METHODS),
                Route("/{vendor}/{rest:path}", vendor_api, methods=_METHODS),
            ]
        )
    )


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise ValueError("control body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ValueError("control body must be a JSON object")
    return data


async def _builtin_control(sim: Simulator, request: Request, action: str) -> Response | None:
    """The control calls every vendor has; None when ``action`` is vendor-specific."""
    method = request.method
    if action == "requests" and method == "GET":
        since = int(request.query_params.get("since", "0"))
        limit_text = request.query_params.get("limit")
        limit = int(limit_text) if limit_text else None
        return JSONResponse({"requests": sim.requests(since, limit)})
    if action == "counters" and method == "GET":
        return JSONResponse({"counters": sim.counts()})
    if action == "dump" and method == "GET":
        return JSONResponse(sim.dump())
    if action == "seed" and method == "POST":
        return JSONResponse({"seeded": sim.seed(await _json_body(request))})
    if action == "faults" and method == "GET":
        with sim.lock:
            return JSONResponse({"faults": sim.faults.snapshot()})
    if action == "faults" and method == "POST":
        return JSONResponse({"faults": sim.set_faults(await _json_body(request))})
    if action == "reset" and method == "POST":
        sim.reset()
        return JSONResponse({"reset": True})
    return None
