"""HR records from a CSV file with a header row, read one line at a time.

The file is read as bytes and decoded line by line, so a bad byte is reported
with its exact line number. Rules a user can rely on:

- ``utf-8`` also strips a byte order mark; ``latin-1`` refuses a file that starts
  with one (it is UTF-8, and the first column name would be garbled).
- Header names are stripped of surrounding spaces; a repeated name is an error.
- An empty cell is ``""``; a short row simply lacks the missing columns.
- Non-empty cells beyond the header, or under a column without a name, make the
  record carry a ``problem`` (its data may be shifted), as does a NUL character (a
  binary or corrupted export). Empty cells are ignored, as are blank lines.
- A file with nothing in it, not even a header, gives no record: the engine stops on
  an empty source as it does on a header-only one (a failed export deprovisions nobody).
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import structlog

from syncd.config.schema.sources import CsvSourceConfig
from syncd.sources.base import SourceError, SourceRecord

log = structlog.get_logger(__name__)

_UTF8_BOM = b"\xef\xbb\xbf"


class _DecodedLines:
    """Decodes a binary file line by line and counts physical lines for positions."""

    def __init__(self, source_name: str, stream: BinaryIO, encoding: str) -> None:
        self._name = source_name
        self._stream = stream
        self._encoding = "utf-8" if encoding == "utf-8-sig" else encoding
        self.number = 0
        self.last_nul = 0  # the last line holding a NUL character (0: none yet)

    def __iter__(self) -> Iterator[str]:
        for raw in self._stream:
            self.number += 1
            if b"\x00" in raw:
                self.last_nul = self.number
            if self.number == 1 and raw.startswith(_UTF8_BOM):
                if self._encoding != "utf-8":
                    raise SourceError(
                        self._name,
                        "the file starts with a UTF-8 byte order mark but encoding is "
                        f"{self._encoding}: set encoding: utf-8",
                    )
                raw = raw[len(_UTF8_BOM) :]
            try:
                yield raw.decode(self._encoding)
            except UnicodeDecodeError as exc:
                byte = raw[exc.start : exc.start + 1].hex()
                raise SourceError(
                    self._name,
                    f"line {self.number} is not valid {self._encoding} "
                    f"(byte 0x{byte} at column {exc.start + 1}); "
                    "set encoding: latin-1 if the file is Latin-1",
                ) from None


class CsvSource:
    """A CSV file with a header row (SPEC §3 ``type: csv``)."""

    def __init__(self, name: str, config: CsvSourceConfig) -> None:
        self.name = name
        self.config = config

    def records(self) -> Iterator[SourceRecord]:
        path = Path(self.config.path)
        try:
            stream = path.open("rb")
        except FileNotFoundError:
            raise SourceError(self.name, f"file not found: {path}") from None
        except IsADirectoryError:
            raise SourceError(self.name, f"{path} is a folder, not a file") from None
        except OSError as exc:
            raise SourceError(self.name, f"cannot open {path}: {exc.strerror}") from None
        with stream:
            yield from self._read(stream)

    def _read(self, stream: BinaryIO) -> Iterator[SourceRecord]:
        lines = _DecodedLines(self.name, stream, self.config.encoding)
        reader = csv.reader(lines, delimiter=self.config.delimiter, strict=True)
        header = self._header(reader)
        if header is None:
            log.info("source_read", source=self.name, type="csv", records=0, empty_file=True)
            return
        count = 0
        while True:
            start = lines.number + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise SourceError(self.name, f"line {start}: malformed CSV ({exc})") from None
            if not any(cell.strip() for cell in row):
                continue  # blank line, or delimiters only
            count += 1
            record = _record(f"line {start}", header, row)
            if lines.last_nul >= start:
                record = _with_problem(record, f"line {lines.last_nul} holds a NUL character "
                                       "(a binary or corrupted export?)")
            yield record
        log.info("source_read", source=self.name, type="csv", records=count)

    def _header(self, reader: Iterator[list[str]]) -> list[str] | None:
        """The column names; None for a file with nothing in it."""
        try:
            header = next(reader)
        except StopIteration:
            return None
        except csv.Error as exc:
            raise SourceError(self.name, f"line 1: malformed CSV header ({exc})") from None
        names = [name.strip() for name in header]
        repeated = sorted(name for name, n in Counter(names).items() if name and n > 1)
        if repeated:
            raise SourceError(
                self.name, f"the header repeats column name(s) {', '.join(map(repr, repeated))}"
            )
        if not any(names):
            raise SourceError(self.name, "the header row has no column names")
        return names


def _record(position: str, header: list[str], row: list[str]) -> SourceRecord:
    data: dict[str, str] = {}
    unnamed: list[int] = []
    for index, (name, cell) in enumerate(zip(header, row, strict=False)):
        if name:
            data[name] = cell
        elif cell.strip():
            unnamed.append(index + 1)
    problems = []
    extra = [cell for cell in row[len(header) :] if cell.strip()]
    if extra:
        problems.append(
            f"{position} has {len(row)} cells but the header has {len(header)} columns "
            "(an unquoted delimiter inside a value?)"
        )
    if unnamed:
        columns = ", ".join(str(n) for n in unnamed)
        problems.append(f"{position} has a value in column(s) {columns}, which have no header name")
    return SourceRecord(position, data, "; ".join(problems) or None)


def _with_problem(record: SourceRecord, problem: str) -> SourceRecord:
    problems = "; ".join(p for p in (record.problem, problem) if p)
    return SourceRecord(record.position, record.data, problems)
