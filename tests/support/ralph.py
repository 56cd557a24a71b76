"""A real learning record store for the xAPI tests: Ralph (PyPI ``ralph-malph``) on loopback.

Ralph serves its own API app (``ralph.api:app``) with uvicorn on 127.0.0.1, its
statements kept by its file-system LRS backend in the test's folder. Two things of the
shipped ``ralph runserver -b fs`` are set right here, and nothing else: the backend's
default operation type is *append* (as shipped it creates its one file once and answers
500 to every later write), and the server listens on loopback alone, without a reloader.
The API, its authentication and its duplicate checks are Ralph's own.

Basic-auth credentials are written by ``ralph auth ... -w`` (Ralph's CLI) once per test
session and copied into each server's ``RALPH_APP_DIR``.

Run as ``python -m tests.support.ralph FD`` it is the server, on the listening socket
the parent passes as file descriptor FD (so no port is ever raced for).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

USERNAME = "syncd-test"
PASSWORD = "ralph-test-secret"
AGENT = f"mailto:{USERNAME}@example.com"
LRS_FILE = "fs_lrs.jsonl"  # Ralph's FSLRSBackendSettings.DEFAULT_LRS_FILE
VERSION_HEADER = {"X-Experience-API-Version": "1.0.3"}


def ralph_environment(app_dir: Path, lrs_dir: Path, page_size: int) -> dict[str, str]:
    """Ralph's settings: the fs LRS backend in ``lrs_dir``, ``page_size`` statements a page."""
    return {
        **os.environ,
        "RALPH_APP_DIR": str(app_dir),
        "RALPH_RUNSERVER_BACKEND": "fs",
        "RALPH_BACKENDS__LRS__FS__DEFAULT_DIRECTORY_PATH": str(lrs_dir),
        "RALPH_RUNSERVER_MAX_SEARCH_HITS_COUNT": str(page_size),
    }


def write_credentials(app_dir: Path) -> Path:
    """``ralph auth -u USER -p PASS -s all -M mailto:... -w``: Ralph writes ``auth.json``."""
    environment = ralph_environment(app_dir, app_dir / "unused-lrs", 100)
    command = ["auth", "-u", USERNAME, "-p", PASSWORD, "-s", "all", "-M", AGENT, "-w"]
    subprocess.run(
        [sys.executable, "-m", "ralph", *command],
        env=environment,
        check=True,
        capture_output=True,
        timeout=120,
    )
    written = app_dir / "auth.json"
    if not written.is_file():
        raise RuntimeError(f"ralph auth wrote no {written}")
    return written


class Ralph:
    """One Ralph LRS process; ``endpoint`` is its xAPI base (statements under it)."""

    def __init__(self, folder: Path, credentials: Path, *, page_size: int = 100) -> None:
        self.folder = folder
        self.app_dir = folder / "ralph-app"
        self.lrs_dir = folder / "ralph-lrs"
        self.page_size = page_size
        self.app_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(credentials, self.app_dir / "auth.json")
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(128)
        self.port = self._socket.getsockname()[1]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> str:
        return f"{self.origin}/xAPI"

    def __enter__(self) -> Ralph:
        fd = self._socket.fileno()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.ralph", str(fd)],
            pass_fds=[fd],
            env=ralph_environment(self.app_dir, self.lrs_dir, self.page_size),
            cwd=Path(__file__).resolve().parents[2],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._wait_until_up()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            if self.process.stderr is not None:
                self.process.stderr.close()
        self._socket.close()

    def _wait_until_up(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"Ralph exited with {self.process.returncode}: {error[-2000:]}")
            try:
                if httpx.get(f"{self.origin}/__heartbeat__", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"Ralph did not answer within {timeout:g}s")

    # --- what a test reads and writes ------------------------------------------------------------

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.origin, auth=(USERNAME, PASSWORD), headers=VERSION_HEADER, timeout=30
        )

    def stored(self) -> list[dict[str, Any]]:
        """Every statement in Ralph's file, copies included, in the order it stored them
        (a line Ralph is still writing is left out)."""
        path = self.lrs_dir / LRS_FILE
        if not path.is_file():
            return []
        whole, _, _partial = path.read_text().rpartition("\n")
        return [json.loads(line) for line in whole.splitlines() if line.strip()]

    def holds_any(self) -> bool:
        """Whether Ralph has begun storing a statement (cheap enough to poll)."""
        path = self.lrs_dir / LRS_FILE
        return path.is_file() and path.stat().st_size > 0

    def post(self, statements: list[dict[str, Any]]) -> list[str]:
        """``POST /xAPI/statements``: the ids Ralph stored."""
        with self.client() as client:
            response = client.post("/xAPI/statements", json=statements)
        response.raise_for_status()
        return response.json()

    def put(self, statement: dict[str, Any]) -> httpx.Response:
        with self.client() as client:
            return client.put(
                "/xAPI/statements", params={"statementId": statement["id"]}, json=statement
            )


def statements_in(stored: list[dict[str, Any]], activity_base: str) -> Iterator[dict[str, Any]]:
    """The statements about activities under ``activity_base``."""
    for statement in stored:
        if str(statement.get("object", {}).get("id", "")).startswith(activity_base):
            yield statement


def _serve(fd: int) -> None:
    from ralph.backends.data.base import BaseOperationType
    from ralph.backends.lrs.fs import FSLRSBackend

    FSLRSBackend.default_operation_type = BaseOperationType.APPEND
    import uvicorn

    uvicorn.run("ralph.api:app", fd=fd, log_level="warning", reload=False)


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
