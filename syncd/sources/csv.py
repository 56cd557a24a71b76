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
import hashlib
import io
import json
from collections import Counter
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any, BinaryIO

import structlog

from syncd.config.schema.sources import CsvSourceConfig
from syncd.model import DIGEST_SIZE, digest_number
from syncd.sources.base import Record, SourceError

log = structlog.get_logger(__name__)

_UTF8_BOM = b"\xef\xbb\xbf"


class _Skim:
    """What ``CsvRecords.changed`` was asked to pass over, and how many it did."""

    __slots__ = ("digests", "fingerprint", "key", "seen", "skipped")

    def __init__(
        self, key: str, fingerprint: str, digests: MutableMapping[str, int | None], seen: set[str]
    ) -> None:
        self.key, self.fingerprint, self.digests, self.seen = key, fingerprint, digests, seen
        self.skipped = 0


class CsvRecords:
    """One read of the file: its records one by one (an iterator, as a generator would be),
    or through ``changed`` less the unchanged people's (``SkipsUnchanged``)."""

    def __init__(self, source: CsvSource) -> None:
        self._source = source
        self._records: Iterator[CsvRecord] | None = None
        self._skim: _Skim | None = None

    def __iter__(self) -> Iterator[Record]:
        return self

    def __next__(self) -> Record:
        if self._records is None:
            self._records = self._source._records()
        return next(self._records)

    @property
    def skipped(self) -> int:
        return self._skim.skipped if self._skim is not None else 0

    def changed(
        self,
        key: str,
        fingerprint: str,
        digests: MutableMapping[str, int | None],
        seen: set[str],
    ) -> Iterator[Record]:
        self._skim = _Skim(key, fingerprint, digests, seen)
        return self._source._records(self._skim)


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

    def records(self) -> CsvRecords:
        return CsvRecords(self)

    def _records(self, skim: _Skim | None = None) -> Iterator[CsvRecord]:
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
            encoding = self._text_encoding(stream)
            nul = _holds_nul(stream)
            text = io.TextIOWrapper(stream, encoding=encoding, newline="")
            try:
                yield from self._read(text, nul, skim)
            except UnicodeDecodeError:
                pass
            else:
                return
        self._name_the_bad_line(path)

    def _text_encoding(self, stream: BinaryIO) -> str:
        """The codec to read with; a UTF-8 byte order mark is stripped, or refused."""
        encoding = "utf-8" if self.config.encoding == "utf-8-sig" else self.config.encoding
        starts_with_bom = stream.read(len(_UTF8_BOM)) == _UTF8_BOM
        stream.seek(0)
        if starts_with_bom and encoding != "utf-8":
            raise SourceError(
                self.name,
                "the file starts with a UTF-8 byte order mark but encoding is "
                f"{encoding}: set encoding: utf-8",
            )
        return "utf-8-sig" if encoding == "utf-8" else encoding

    def _name_the_bad_line(self, path: Path) -> None:
        """The file holds a byte its encoding refuses: find the line, line by line, and say so.

        Decoding whole blocks is what makes reading fast, but a block does not know its line.
        """
        with path.open("rb") as stream:
            for _ in _DecodedLines(self.name, stream, self.config.encoding):
                pass
        raise SourceError(self.name, f"{path} is not valid {self.config.encoding}")

    def _read(self, text: Iterator[str], nul: bool, skim: _Skim | None) -> Iterator[CsvRecord]:
        """The records; ``nul``: the file holds a NUL character, so each row is checked."""
        reader = csv.reader(text, delimiter=self.config.delimiter, strict=True)
        header = self._header(reader)
        if header is None:
            log.info("source_read", source=self.name, type="csv", records=0, empty_file=True)
            return
        if skim is not None and not nul and not header.unnamed and skim.key in header.index:
            yield from self._skim(reader, header, skim)
            return
        count = 0
        end = reader.line_num
        try:  # one try around the loop, not one per row: this is a no-change cycle's loop
            for row in reader:
                start, end = end + 1, reader.line_num
                if not (row and row[0].strip()) and not any(map(str.strip, row)):
                    continue  # blank line, or delimiters only
                count += 1
                yield CsvRecord(start, header, row, _nul_problem(start, row) if nul else None)
        except csv.Error as exc:  # ``end``: the last line of the row before the malformed one
            raise SourceError(self.name, f"line {end + 1}: malformed CSV ({exc})") from None
        log.info("source_read", source=self.name, type="csv", records=count)

    def _skim(self, reader: Any, header: _Header, skim: _Skim) -> Iterator[CsvRecord]:
        """``_read`` for a file without NUL or unnamed columns, passing over unchanged people.

        A row with as many cells as the header, whose key ``skim.digests`` holds with this
        row's digest, is only counted: no record, no dict. Any other row (changed, new,
        short, long, blank, a repeated key) is given, or skipped, exactly as ``_read`` would.
        """
        width, at = header.width, header.index[skim.key]
        digests, seen_add = skim.digests, skim.seen.add
        stored_digest, fresh = digests.get, header.hasher(skim.fingerprint).copy
        unit, separators, number = _UNIT, header.width - 1, int.from_bytes
        count = skipped = 0
        end = reader.line_num
        try:  # the loop of a no-change cycle: every name above is a local for speed
            for row in reader:
                start, end = end + 1, reader.line_num
                if len(row) == width:
                    hr_key = row[at].strip()
                    stored = stored_digest(hr_key)
                    if stored is not None:
                        joined = unit.join(row)
                        if joined.count(unit) == separators:  # else CsvRecord.digest decides
                            hasher = fresh()
                            hasher.update(joined.encode())
                            if number(hasher.digest(), "big", signed=True) == stored:
                                del digests[hr_key]
                                seen_add(hr_key)
                                skipped += 1
                                continue
                if not (row and row[0].strip()) and not any(map(str.strip, row)):
                    continue  # blank line, or delimiters only
                count += 1
                yield CsvRecord(start, header, row)
        except csv.Error as exc:  # ``end``: the last line of the row before the malformed one
            raise SourceError(self.name, f"line {end + 1}: malformed CSV ({exc})") from None
        finally:
            skim.skipped = skipped
        log.info("source_read", source=self.name, type="csv", records=count + skipped)

    def _header(self, reader: Iterator[list[str]]) -> _Header | None:
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
        return _Header(names)


def _holds_nul(stream: BinaryIO) -> bool:
    """Whether the file holds a NUL character anywhere: one fast scan, then back to its start,
    so only a file that does pays for checking each row."""
    found = False
    while chunk := stream.read(1 << 20):
        if b"\x00" in chunk:
            found = True
            break
    stream.seek(0)
    return found


def _nul_problem(line: int, row: list[str]) -> str | None:
    if not any("\x00" in cell for cell in row):
        return None
    return f"line {line} holds a NUL character (a binary or corrupted export?)"


class _Header:
    """The column names, where each stands, and the hash seed they give a mapping."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.width = len(names)
        self.index = {name: i for i, name in enumerate(names) if name}
        self.unnamed = any(not name for name in names)
        self._hashers: dict[str, Any] = {}

    def hasher(self, fingerprint: str) -> Any:
        """A BLAKE2b keyed with the mapping and the header, not fed yet: each row hashes a
        copy of it, which skips hashing the key again for every row."""
        hasher = self._hashers.get(fingerprint)
        if hasher is None:
            basis = f"{fingerprint}{_UNIT}{_UNIT.join(self.names)}".encode()
            seed = hashlib.blake2b(basis, digest_size=32).digest()
            hasher = self._hashers[fingerprint] = hashlib.blake2b(digest_size=DIGEST_SIZE, key=seed)
        return hasher


_UNIT = "\x1f"


class CsvRecord:
    """One CSV row. Its dict is built only when asked for: an unchanged person never is."""

    __slots__ = ("_data", "_header", "_line", "_nul", "_row")

    def __init__(self, line: int, header: _Header, row: list[str], nul: str | None = None) -> None:
        self._line = line
        self._header = header
        self._row = row
        self._nul = nul  # why a NUL character makes the row untrustworthy, if it holds one
        self._data: dict[str, str] | None = None

    @property
    def position(self) -> str:
        return f"line {self._line}"

    @property
    def data(self) -> dict[str, str]:
        if self._data is None:
            row, names = self._row, self._header.names
            self._data = {name: cell for name, cell in zip(names, row, strict=False) if name}
        return self._data

    def value(self, name: str) -> str | None:
        index = self._header.index.get(name)
        return self._row[index] if index is not None and index < len(self._row) else None

    def has_column(self, name: str) -> bool:
        index = self._header.index.get(name)
        return index is not None and index < len(self._row)

    def digest(self, fingerprint: str) -> int:
        """The raw cells, hashed with the mapping and the header: no dict, no JSON (``_skim``
        computes the same number inline)."""
        row = self._row
        joined = _UNIT.join(row)
        if joined.count(_UNIT) != len(row) - 1:  # a cell holds the separator itself
            joined = json.dumps(row)
        hasher = self._header.hasher(fingerprint).copy()
        hasher.update(joined.encode())
        return digest_number(hasher.digest())

    @property
    def problem(self) -> str | None:
        header, row = self._header, self._row
        if len(row) <= header.width and not header.unnamed and self._nul is None:
            return None  # the one path a well-formed file takes
        found = _problem(self.position, header, row)
        return "; ".join(p for p in (found, self._nul) if p) or None


def _problem(position: str, header: _Header, row: list[str]) -> str | None:
    problems = []
    extra = [cell for cell in row[header.width :] if cell.strip()]
    if extra:
        problems.append(
            f"{position} has {len(row)} cells but the header has {header.width} columns "
            "(an unquoted delimiter inside a value?)"
        )
    unnamed = [
        i + 1
        for i, (name, cell) in enumerate(zip(header.names, row, strict=False))
        if not name and cell.strip()
    ]
    if unnamed:
        columns = ", ".join(str(n) for n in unnamed)
        problems.append(f"{position} has a value in column(s) {columns}, which have no header name")
    return "; ".join(problems) or None
