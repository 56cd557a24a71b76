"""Learning results into a CSV file that a receiver can read at any moment.

Every write produces a complete new file beside the old one (temporary name,
fsync) and renames it over the old one, so a reader never sees half a batch and
a crash or full disk leaves the previous file as it was. Writers of the same
file (several connectors, several processes) take turns through a lock file.

- ``append`` keeps every row ever delivered: a result that changes appears once
  per change, so receivers de-duplicate on ``result_id`` (the latest row wins). A
  result delivered again unchanged (a crash lost the record of its delivery) is not
  written a second time.
- ``rewrite`` keeps exactly one row per ``result_id``, the latest, in the order
  results first appeared.

Columns follow ``RESULT_COLUMNS`` with one header row; unknown values are
empty cells; whole-number floats are written without ``.0``. UTF-8, ``\\n`` line
ends. A file written before columns were added at the end (``ADDED_COLUMNS``) is
widened by its first write: the header gains them and its rows get empty cells, so
every column keeps its place and nothing already written is lost. A new file gets
mode 0640 (results are personal data); a replaced file keeps the mode it had.

HR opens these files in spreadsheets, and course names come from the LMS, where
anyone who can name a course can write ``=HYPERLINK(...)``. Following OWASP's CSV
injection guidance, a text cell that a spreadsheet would run (one starting with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return) is written behind a single
quote, unless ``escape_formulas: false``. A cell holding a line break of either
kind is always quoted, so the file reads back as exactly the rows written.
"""

from __future__ import annotations

import csv
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from enum import Enum
from pathlib import Path
from typing import Any, TextIO

import structlog

from syncd.config.schema.sinks import CsvSinkConfig
from syncd.model import ADDED_COLUMNS, RESULT_COLUMNS, LearningResult
from syncd.sink_protocol import SinkBase, SinkError
from syncd.sinks.base import latest_per_result

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: one process per file is then assumed
    fcntl = None  # type: ignore[assignment]

log = structlog.get_logger(__name__)

NEW_FILE_MODE = 0o640
_LINE_END = "\n"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet takes as the start of a formula (OWASP, CSV injection)."""


class _Header(Enum):
    NONE = "none"
    CURRENT = "current"
    OLDER = "older"


class CsvSink(SinkBase):
    """A CSV file of learning results (SPEC §3 ``sinks: type: csv``)."""

    def __init__(self, name: str, config: CsvSinkConfig) -> None:
        self.name = name
        self.config = config
        self.path = Path(config.path)

    def write(self, results: Sequence[LearningResult]) -> None:
        if not results:
            return
        folder = self.path.parent
        if not folder.is_dir():
            raise SinkError(self.name, f"folder {folder} does not exist")
        try:
            with self._locked():
                if self.config.mode == "rewrite":
                    self._rewrite(results)
                else:
                    self._append(results)
        except SinkError:
            raise
        except (OSError, UnicodeError, csv.Error) as exc:
            raise SinkError(self.name, f"could not write {self.path}: {_describe(exc)}") from None
        log.info(
            "sink_written", sink=self.name, type="csv", mode=self.config.mode, rows=len(results)
        )

    # -- the two modes ----------------------------------------------------------------

    def _append(self, results: Sequence[LearningResult]) -> None:
        rows = [self._cells(result.as_row()) for result in results]
        existing = self._check_existing()
        if existing is _Header.OLDER:
            old_rows = [row for _, row in self._old_rows()]
            self._replace(lambda handle: self._write_all(handle, [*old_rows, *rows]))
            return
        if existing is _Header.CURRENT:
            # A result delivered again unchanged (a kill between writing it and recording
            # the delivery) is in the file already: written once.
            latest = dict(self._old_rows())
            rows = [row for row in rows if latest.get(row[0]) != row]
            if not rows:
                return

        def body(handle: TextIO) -> None:
            writer = self._writer(handle)
            if existing is _Header.CURRENT:
                handle.flush()
                with self.path.open("rb") as old:
                    shutil.copyfileobj(old, handle.buffer)
                    old.seek(-1, os.SEEK_END)
                    if old.read(1) != b"\n":
                        handle.buffer.write(b"\n")
                handle.buffer.flush()
            else:
                writer.writerow(RESULT_COLUMNS)
            writer.writerows(rows)

        self._replace(body)

    def _rewrite(self, results: Sequence[LearningResult]) -> None:
        table = dict(self._old_rows()) if self._check_existing() is not _Header.NONE else {}
        for row in latest_per_result(results):
            table[row["result_id"]] = self._cells(row)
        self._replace(lambda handle: self._write_all(handle, list(table.values())))

    def _old_rows(self) -> Iterator[tuple[str, list[str]]]:
        """The file's rows with their result_id, widened to every column when it is older."""
        width = len(RESULT_COLUMNS)
        with self.path.open(encoding="utf-8-sig", newline="") as old:
            reader = csv.reader(old, delimiter=self.config.delimiter)
            next(reader)  # the header, checked before
            for number, row in enumerate(reader, start=2):
                if not any(row):
                    continue
                # result_ids are hex, so "#<line>" keeps a row without one as it is.
                yield row[0] or f"#{number}", row + [""] * (width - len(row))

    def _write_all(self, handle: TextIO, rows: list[list[str]]) -> None:
        writer = self._writer(handle)
        writer.writerow(RESULT_COLUMNS)
        writer.writerows(rows)

    # -- file handling ------------------------------------------------------------------

    def _existing_rows(self) -> dict[str, list[str]]:
        """The file's latest row per result_id (its header checked already)."""
        table: dict[str, list[str]] = {}
        with self.path.open(encoding="utf-8-sig", newline="") as old:
            reader = csv.reader(old, delimiter=self.config.delimiter)
            next(reader)
            for number, row in enumerate(reader, start=2):
                if not any(row):
                    continue
                # result_ids are hex, so "#<line>" keeps a row without one as it is.
                table[row[0] or f"#{number}"] = row
        return table

    def _writer(self, handle: TextIO) -> RowWriter:
        return RowWriter(handle, self.config.delimiter)

    def _cells(self, row: dict[str, Any]) -> list[str]:
        cells = [_cell(row[name]) for name in RESULT_COLUMNS]
        if not self.config.escape_formulas:
            return cells
        return [
            f"'{cell}" if isinstance(row[name], str) and cell.startswith(FORMULA_STARTS) else cell
            for name, cell in zip(RESULT_COLUMNS, cells, strict=True)
        ]

    def _check_existing(self) -> _Header:
        """Which of our headers the file holds: none (absent or empty), the current one,
        or an older one that lacks columns added since (``ADDED_COLUMNS``).

        A file with other columns is refused rather than mixed with ours.
        """
        try:
            with self.path.open("rb") as existing:
                first_line = existing.readline()
                rest = existing.read(1)
        except FileNotFoundError:
            return _Header.NONE
        if not first_line.strip() and not rest:
            return _Header.NONE
        text = first_line.decode("utf-8-sig", errors="replace").rstrip("\r\n")
        header = tuple(
            name.strip() for name in next(csv.reader([text], delimiter=self.config.delimiter), [])
        )
        if header == RESULT_COLUMNS:
            return _Header.CURRENT
        if _older_header(header):
            log.warning(
                "sink_columns_added",
                sink=self.name,
                path=str(self.path),
                columns=list(RESULT_COLUMNS[len(header) :]),
            )
            return _Header.OLDER
        raise SinkError(
            self.name,
            f"{self.path} exists with other columns than the learning result columns; "
            "move it away or point the sink at another file",
        )

    def _replace(self, write_body: Callable[[TextIO], None]) -> None:
        """Write a complete new file beside the old one, then rename it over it."""
        fd, temporary = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                write_body(handle)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                mode = stat.S_IMODE(self.path.stat().st_mode)
            except FileNotFoundError:
                mode = NEW_FILE_MODE
            os.chmod(temporary, mode)
            os.replace(temporary, self.path)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        _fsync_folder(self.path.parent)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time per file, across threads and processes (POSIX flock)."""
        if fcntl is None:  # pragma: no cover
            yield
            return
        lock_path = self.path.parent / f".{self.path.name}.lock"
        with open(lock_path, "a+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


class RowWriter:
    """``csv.writer`` with ``\\n`` line ends that still quotes a cell holding ``\\r``.

    The csv module quotes only the characters of its own line terminator, so with
    ``\\n`` a lone carriage return would go out bare and split the row in two for
    every reader. Such a row is written with every cell quoted instead.
    """

    def __init__(self, handle: TextIO, delimiter: str) -> None:
        options: dict[str, Any] = {"delimiter": delimiter, "lineterminator": _LINE_END}
        self._minimal = csv.writer(handle, **options)
        self._quoted = csv.writer(handle, quoting=csv.QUOTE_ALL, **options)

    def writerow(self, row: Sequence[str]) -> None:
        carriage_return = any("\r" in cell for cell in row)
        (self._quoted if carriage_return else self._minimal).writerow(row)

    def writerows(self, rows: Iterable[Sequence[str]]) -> None:
        for row in rows:
            self.writerow(row)


def _older_header(header: tuple[str, ...]) -> bool:
    """A header written before some of ``ADDED_COLUMNS`` existed: ours, cut short."""
    shortest = len(RESULT_COLUMNS) - len(ADDED_COLUMNS)
    return shortest <= len(header) < len(RESULT_COLUMNS) and header == RESULT_COLUMNS[: len(header)]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); harmless where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on folders
        pass
    finally:
        os.close(fd)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
