"""The daemon's HTTP side: ``/healthz``, ``/readyz``, ``/metrics`` and ``/status`` (SPEC §2, §7).

Served by uvicorn in a background thread so the main thread keeps the signals.
``/healthz`` answers 200 only while the scheduler runs and the state store answers,
so an orchestrator restarts a daemon that can no longer do its job; ``/readyz``
answers 503 as well while a connector is degraded (``health``), which a restart
does not mend but a person should see.
"""

from __future__ import annotations

import threading
import time

import structlog
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from syncd import metrics
from syncd.daemon.health import Health, HealthCheck
from syncd.logs import redactor

log = structlog.get_logger(__name__)


def build_app(health: HealthCheck) -> Starlette:
    def healthz(_request: Request) -> JSONResponse:
        problems = health.liveness()
        if problems:
            return JSONResponse({"status": "unhealthy", "problems": problems}, status_code=503)
        return JSONResponse({"status": "ok"})

    def readyz(_request: Request) -> JSONResponse:
        found = _read(health)
        if found.problems:
            return JSONResponse({"status": "degraded", "problems": found.problems}, 503)
        return JSONResponse({"status": "ok"})

    def metrics_endpoint(_request: Request) -> Response:
        health.refresh()
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    def status(_request: Request) -> JSONResponse:
        found = _read(health)
        state = "unhealthy" if found.alive else "degraded" if found.degraded else "ok"
        body = {"status": state, "problems": found.problems, "connectors": found.rows}
        return JSONResponse(body, status_code=503 if found.alive else 200)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint),
            Route("/status", status),
        ]
    )


def _read(health: HealthCheck) -> Health:
    """The daemon's health; a store that fails while being read is itself the problem."""
    try:
        return health.readiness()
    except Exception as error:
        reason = redactor.redact_text(str(error))
        return Health(alive=[f"cannot read the state store: {reason}"])


class HttpServer:
    """uvicorn on its own thread; ``stop`` lets in-flight requests finish."""

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        config = uvicorn.Config(
            app, host=host, port=port, log_config=None, access_log=False, ws="none"
        )  # no websockets served: their library (deprecated in part) is not even imported
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="syncd-http", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not self._server.started:
            raise OSError("the HTTP server did not start (is the listen address in use?)")

    @property
    def port(self) -> int:
        """The bound port (useful when the configuration asked for port 0)."""
        for server in self._server.servers:
            for sock in server.sockets:
                return sock.getsockname()[1]
        return self._server.config.port

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
