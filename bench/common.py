"""What every benchmark shares: where the project is, how the machine is described, peak
memory, and how a benchmark's figures replace its own section of docs/benchmarks.md.

Importing this module also puts the project root on ``sys.path``, so a benchmark run as
``python bench/NAME.py`` imports ``syncd`` and ``tests.support`` from this checkout.
"""

from __future__ import annotations

import os
import platform
import resource
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "docs" / "benchmarks.md"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def machine() -> str:
    """The machine a figure was measured on, e.g. ``4 cores, CPython 3.12.3``."""
    return f"{os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}"


def stamp() -> str:
    """When a figure was measured, in UTC to the minute."""
    return f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"


def peak_mb() -> float:
    """This process's peak memory (max RSS) so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_section(section: str, path: Path = BENCHMARKS) -> None:
    """Replace the section whose ``## `` title is ``section``'s first line, up to the next
    ``## `` title, leaving the other benchmarks' sections alone; append it if it is new."""
    title = section.splitlines()[0]
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    lines = text.splitlines(keepends=True)
    at = next((i for i, line in enumerate(lines) if line.rstrip("\n") == title), None)
    if at is not None:
        end = next((i for i in range(at + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        rest = "".join(lines[end:])
        text = "".join(lines[:at]) + section + ("\n" + rest if rest else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def calls_table(
    titles: Sequence[str],
    calls: Sequence[Counter],
    order: Callable[[str], object] = str,
    shown: Callable[[str], str] = str,
) -> list[str]:
    """Markdown rows of calls by endpoint: a header, then a row per endpoint (in ``order``,
    named ``shown(endpoint)``) with a column per run."""
    endpoints = sorted({endpoint for counted in calls for endpoint in counted}, key=order)
    lines = ["| endpoint | " + " | ".join(titles) + " |", "|---|" + "---:|" * len(titles)]
    for endpoint in endpoints:
        counts = " | ".join(f"{counted[endpoint]:,}" for counted in calls)
        lines.append(f"| `{shown(endpoint)}` | {counts} |")
    return lines
