"""Running syncd as a user does: a real ``python -m syncd`` process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

ENTRY: list[str] = ["-m", "syncd"]
"""How this interpreter starts syncd: ``entered_as`` swaps in another way for a while (the
chunk sizes of ``tests.support.chunked``)."""


def syncd_command(*args: str) -> list[str]:
    """The argv of ``syncd ARGS`` run with this interpreter (for ``Popen`` and ``run``)."""
    return [sys.executable, *ENTRY, *args]


@contextmanager
def entered_as(*entry: str) -> Iterator[None]:
    """Every syncd process started meanwhile runs as ``python ENTRY ARGS``."""
    before = ENTRY[:]
    ENTRY[:] = entry
    try:
        yield
    finally:
        ENTRY[:] = before


def run_syncd(
    *args: str,
    env: dict[str, str] | None = None,
    without: Iterable[str] = (),
    cwd: Path | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``syncd ARGS`` to the end and capture its output.

    The child inherits this environment less the variables named in ``without``
    (so a test proves a value comes from where it says), plus ``env``.
    """
    dropped = set(without)
    environment = {k: v for k, v in os.environ.items() if k not in dropped}
    environment.update(env or {})
    return subprocess.run(
        syncd_command(*args),
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        timeout=timeout,
    )
