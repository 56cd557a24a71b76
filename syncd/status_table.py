"""How ``syncd status`` prints the status rows: readable in 80 columns, every time with its zone.

The narrow table keeps what an operator scans for (state, last success, next run,
the queue and the failures) and lists the last errors below it, one line each; ``--wide``
shows every column with full ISO 8601 times and the errors whole. Times are UTC, as
the store keeps them and the logs write them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

NARROW = (
    ("connector", "connector"),
    ("direction", "direction"),
    ("state", "state"),
    ("last_success_at", "last success\n(UTC)"),
    ("next_run_at", "next run\n(UTC)"),
    ("pending_ops", "pending"),
    ("failed_ops", "failed"),
)
WIDE_TIMES = ("last_started_at", "last_finished_at", "last_success_at", "next_run_at")
NUMBERS = frozenset({"pending_ops", "failed_ops"})
WIDE_WIDTH = 400
"""``--wide`` never folds a line for want of room, even when piped."""
ERROR_WIDTH = 76
"""A last error in the narrow view is cut to one line of this many characters."""


def as_time(value: Any) -> datetime | None:
    """A status time (ISO text or datetime; naive means UTC) as an aware UTC datetime."""
    if value is None or value == "":
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def short_time(value: Any) -> str:
    """``12-04 14:05`` (the zone is in the column's header): 11 characters."""
    moment = as_time(value)
    return moment.strftime("%m-%d %H:%M") if moment else "-"


def full_time(value: Any) -> str:
    """``2026-12-04 14:05:07+00:00``: ISO 8601 to the second, with the zone."""
    moment = as_time(value)
    return moment.isoformat(sep=" ", timespec="seconds") if moment else "-"


def print_status(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, wide: bool) -> None:
    """The status rows as a table (``columns`` is the order the store gives in wide view)."""
    terminal = Console().width
    console = Console(width=max(terminal, WIDE_WIDTH) if wide else min(terminal, 80))
    if not rows:
        console.print("No connector has run yet.")
        return
    if wide:
        console.print(_wide_table(rows, columns))
        return
    table = Table(box=box.SIMPLE_HEAD, padding=0, show_edge=False, title="syncd status",
                  title_justify="left")
    for name, header in NARROW:
        table.add_column(header, justify="right" if name in NUMBERS else "left", no_wrap=True)
    for row in rows:
        table.add_row(*(_narrow_cell(name, row.get(name)) for name, _header in NARROW))
    console.print(table)
    errors = [row for row in rows if row.get("last_error")]
    for row in errors:
        console.print(_one_line(f"{row['connector']} {row['direction']}: {row['last_error']}"),
                      markup=False, highlight=False, soft_wrap=True)
    if any(len(str(row["last_error"])) > ERROR_WIDTH for row in errors):
        console.print("(syncd status --wide shows the errors whole)", markup=False)


def _narrow_cell(name: str, value: Any) -> str:
    if name in WIDE_TIMES:
        return short_time(value)
    return "" if value is None else str(value)


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= ERROR_WIDTH else flat[: ERROR_WIDTH - 1] + "…"


def _wide_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> Table:
    table = Table(title="syncd status", title_justify="left", box=box.SIMPLE_HEAD)
    for name in columns:
        table.add_column(name, justify="right" if name in NUMBERS else "left")
    for row in rows:
        table.add_row(*(
            full_time(row.get(name)) if name in WIDE_TIMES
            else ("" if row.get(name) is None else str(row.get(name)))
            for name in columns
        ))
    return table
