"""Running the sandbox: ``Sandbox`` in a background thread for tests and the demo,
``serve`` in the foreground for ``syncd sandbox``.
"""

from __future__ import annotations

import signal
import socket
import sys
import threading
from collections.abc import Iterable, Mapping
from types import FrameType, TracebackType
from typing import Any, TextIO

import structlog
import uvicorn

from syncd.sandbox.app import build_app
from syncd.sandbox.clock import Clock
from syncd.sandbox.registry import KNOWN_VENDORS, resolve_vendors, simulator_class
from syncd.sandbox.simulator import OptionsError, Simulator, SimulatorOptions

log = structlog.get_logger(__name__)

_START_TIMEOUT = 15.0
_COMMON_OPTIONS = frozenset(SimulatorOptions.model_fields)


def split_options(vendors: Iterable[str], options: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per-vendor options from flat ones: shared keys go to every vendor, a vendor's name
    holds that vendor's own keys (which win). Options for vendors not served are ignored."""
    shared: dict[str, Any] = {}
    own: dict[str, Mapping[str, Any]] = {}
    for key, value in options.items():
        if key in _COMMON_OPTIONS:
            shared[key] = value
        elif key in KNOWN_VENDORS:
            if not isinstance(value, Mapping):
                raise OptionsError(f"{key}: vendor options must be a mapping")
            own[key] = value
        else:
            allowed = ", ".join(sorted(_COMMON_OPTIONS | set(KNOWN_VENDORS)))
            raise OptionsError(f"unknown sandbox option {key!r}; allowed: {allowed}")
    return {vendor: {**shared, **own.get(vendor, {})} for vendor in vendors}


class Sandbox:
    """The vendor simulators served over HTTP on loopback, in a background thread.

    ``with Sandbox(job_duration=0.2) as sb: sb.base_url("talentlms")`` — port 0 picks
    a free port. Shared options (``SimulatorOptions``) apply to every vendor; a
    vendor's own options go under its name, e.g. ``talentlms={"hourly_limit": 10}``.
    """

    def __init__(
        self,
        vendors: Iterable[str] | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        *,
        clock: Clock | None = None,
        **options: Any,
    ) -> None:
        self.host = host
        self._requested_port = port
        names = resolve_vendors(vendors)
        per_vendor = split_options(names, options)
        self._sims: dict[str, Simulator] = {}
        for name in names:
            try:
                self._sims[name] = simulator_class(name)(per_vendor[name], clock=clock)
            except OptionsError as exc:
                raise OptionsError(f"{name}: {exc}") from None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    # ----- lifecycle -------------------------------------------------------------------

    def start(self) -> Sandbox:
        if self._thread is not None:
            return self
        # proto=IPPROTO_TCP lets asyncio turn Nagle off on accepted connections; without
        # it every answer written in two parts waits ~40 ms for a delayed ACK.
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((self.host, self._requested_port))
        sock.listen(128)
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            build_app(self._sims),
            log_config=None,
            access_log=False,
            lifespan="off",
            ws="none",  # no websockets served: their library is not even imported
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="syncd-sandbox", daemon=True
        )
        self._thread.start()
        deadline = threading.Event()
        for _ in range(int(_START_TIMEOUT / 0.01)):
            if server.started or not self._thread.is_alive():
                break
            deadline.wait(0.01)
        if not server.started:
            self.stop()
            raise RuntimeError("the sandbox server did not start")
        log.info("sandbox_started", url=self.url, vendors=list(self._sims))
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ----- where things are ------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the sandbox is not started")
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def vendors(self) -> list[str]:
        return list(self._sims)

    def base_url(self, vendor: str) -> str:
        """The vendor's ``base_url`` as syncd's configuration takes it."""
        self.sim(vendor)
        return f"{self.url}/{vendor}"

    def control_url(self, vendor: str) -> str:
        self.sim(vendor)
        return f"{self.url}/_sandbox/{vendor}"

    def sim(self, vendor: str) -> Simulator:
        try:
            return self._sims[vendor]
        except KeyError:
            raise KeyError(
                f"the sandbox does not serve {vendor!r}; it serves {self.vendors}"
            ) from None


def serve(
    port: int = 0,
    vendors: Iterable[str] | None = None,
    options: Mapping[str, Any] | None = None,
    *,
    host: str = "127.0.0.1",
    out: TextIO | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Serve the sandbox until SIGINT/SIGTERM (or ``stop`` is set), printing each base URL."""
    out = out or sys.stdout
    stop = stop or threading.Event()
    sandbox = Sandbox(vendors, port, host, **dict(options or {}))
    previous: dict[int, Any] = {}

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, request_stop)
    try:
        with sandbox:
            print(
                f"syncd sandbox on {sandbox.url}  (control API: {sandbox.url}/_sandbox)", file=out
            )
            for vendor in sandbox.vendors:
                print(
                    f"  {vendor:<13} {sandbox.sim(vendor).describe(sandbox.base_url(vendor))}",
                    file=out,
                )
            print("Press Ctrl+C to stop.", file=out, flush=True)
            while not stop.wait(0.5):
                pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
