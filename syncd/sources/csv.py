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
import re
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

    __slots__ = (
        "digests",
        "fingerprint",
        "key",
        "outside",
        "outside_linked",
        "seen",
        "skipped",
        "skipped_outside",
    )

    def __init__(
        self,
        key: str,
        fingerprint: str,
        digests: MutableMapping[str, int | None],
        seen: set[str],
        outside: MutableMapping[str, int] | None,
    ) -> None:
        self.key, self.fingerprint, self.digests, self.seen = key, fingerprint, digests, seen
        self.outside: MutableMapping[str, int] = {} if outside is None else outside
        self.skipped = self.skipped_outside = 0
        self.outside_linked: list[str] = []  # passed over out of scope, with a link


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

    @property
    def skipped_out_of_scope(self) -> int:
        return self._skim.skipped_outside if self._skim is not None else 0

    @property
    def skipped_linked_out_of_scope(self) -> list[str]:
        return self._skim.outside_linked if self._skim is not None else []

    def changed(
        self,
        key: str,
        fingerprint: str,
        digests: MutableMapping[str, int | None],
        seen: set[str],
        outside: MutableMapping[str, int] | None = None,
    ) -> Iterator[Record]:
        self._skim = _Skim(key, fingerprint, digests, seen, outside)
        return self._source._records(self._skim)


class _Feed:
    """The file's physical lines for ``csv.reader``, decoded one at a time, with the raw
    bytes of the record being read.

    A record's digest is taken over its raw bytes, so the skimming loop can digest a line
    without decoding or parsing it; a line is decoded only when it has to be parsed, which
    also names the exact line of a byte its encoding refuses. Lines split at ``\\n`` as bytes
    (every accepted encoding is ASCII-compatible); a bare ``\\r`` ends a line too, as in
    any text file read with ``newline=""``.
    """

    __slots__ = ("_encoding", "lines", "pending", "taken", "text")

    def __init__(self, stream: BinaryIO, encoding: str) -> None:
        self._encoding = encoding
        self.lines: Iterator[bytes] = iter(stream)
        self.pending: bytes | None = None  # a line the skimming loop took, to be parsed
        self.taken: list[bytes] = []  # the raw lines of the record being read
        self.text = self._decoded()  # what ``csv.reader`` reads

    def _decoded(self) -> Iterator[str]:
        lines, encoding = self.lines, self._encoding
        while True:
            raw = self.pending
            if raw is None:
                raw = next(lines, None)
                if raw is None:
                    return
            else:
                self.pending = None
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError as exc:
                raise _BadBytes(raw, exc.start) from None
            if "\r" in text and (text.count("\r") > 1 or not text.endswith("\r\n")):
                for piece in _BARE_CR.split(text):
                    self.taken.append(piece.encode(encoding))
                    yield piece
                continue
            self.taken.append(raw)
            yield text

    def record(self) -> list[bytes]:
        """The raw lines of the record just read, and a fresh start for the next one."""
        taken, self.taken = self.taken, []
        return taken


class _BadBytes(Exception):
    """A line its encoding refuses: where, so that the reader can name the line."""

    def __init__(self, raw: bytes, start: int) -> None:
        super().__init__(raw, start)
        self.byte, self.column = raw[start : start + 1].hex(), start + 1


_BARE_CR = re.compile(r"(?<=\r)(?!\n)")


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
            nul = _holds_nul(stream)
            self._pass_bom(stream)
            feed = _Feed(stream, self._encoding)
            yield from self._read(feed, nul, skim)

    @property
    def _encoding(self) -> str:
        return "utf-8" if self.config.encoding == "utf-8-sig" else self.config.encoding

    def _pass_bom(self, stream: BinaryIO) -> None:
        """Pass over a UTF-8 byte order mark; refused unless reading UTF-8."""
        if stream.read(len(_UTF8_BOM)) != _UTF8_BOM:
            stream.seek(0)
        elif self._encoding != "utf-8":
            raise SourceError(
                self.name,
                "the file starts with a UTF-8 byte order mark but encoding is "
                f"{self._encoding}: set encoding: utf-8",
            )

    def _read(self, feed: _Feed, nul: bool, skim: _Skim | None) -> Iterator[CsvRecord]:
        """The records; ``nul``: the file holds a NUL character, so each row is checked."""
        reader = csv.reader(feed.text, delimiter=self.config.delimiter, strict=True)
        number = 0  # the physical lines read so far
        try:
            header = self._header(reader)
            number = len(feed.record())  # the header's: the digests' seed holds its names
            if header is None:
                log.info("source_read", source=self.name, type="csv", records=0, empty_file=True)
                return
            if skim is not None and not nul and not header.unnamed and skim.key in header.index:
                known, no_digest = _by_digest(skim.digests)
                outside, _ = _by_digest(skim.outside)  # type: ignore[arg-type]
                if known or outside:
                    yield from self._skim(feed, reader, header, skim, (known, outside), number)
                    _keep_not_passed_over(skim.digests, known, no_digest)
                    _keep_not_passed_over(skim.outside, outside, [])  # type: ignore[arg-type]
                    return
            count = 0
            for row in reader:  # a first sync's loop, inside one try
                taken = feed.record()
                start = number + 1
                number += len(taken)
                if not (row and row[0].strip()) and not any(map(str.strip, row)):
                    continue  # blank line, or delimiters only
                count += 1
                problem = _nul_problem(start, row) if nul else None
                yield CsvRecord(start, header, row, taken, problem)
        except (csv.Error, _BadBytes) as exc:
            raise self._failure(exc, number, feed) from None
        log.info("source_read", source=self.name, type="csv", records=count)

    def _skim(
        self,
        feed: _Feed,
        reader: Any,
        header: _Header,
        skim: _Skim,
        known: tuple[dict[int, str], dict[int, str]],
        number: int,
    ) -> Iterator[CsvRecord]:
        """``_read`` for a file without NUL or unnamed columns, passing over unchanged people.

        A physical line whose raw bytes digest to the stored digest of a person not read yet
        is that person's whole record, unchanged: the stored digest was taken over a whole
        record read from a record's start, so the same bytes from a record's start are the
        same record. Such a line costs a hash and one lookup in ``known`` (the linked
        people's digests, then those out of scope: the entry is taken): not decoded, not
        parsed, and ``digests`` is left alone until the end, when it keeps only the people
        not passed over (one random memory access a line, not four, is most of a million
        people's cost). Any other line (changed, new, blank, a repeated key, a record
        spanning lines) is parsed and given, or skipped, exactly as ``_read`` would.
        ``number``: the lines read before.
        """
        seen, linked, key_of, outside_key_of = skim.seen, skim.digests, known[0].pop, known[1].pop
        outside_linked = skim.outside_linked.append
        fresh, as_number = header.hasher(skim.fingerprint).copy, int.from_bytes
        count = skipped = outside = 0
        try:  # the loop of a no-change cycle: every name above is a local for speed
            for raw in feed.lines:
                hasher = fresh()
                hasher.update(raw)
                digest = as_number(hasher.digest(), "big", signed=True)
                hr_key = key_of(digest, None)
                if hr_key is not None:
                    if hr_key not in seen:  # ``seen``: the people given
                        skipped += 1
                        continue
                elif (hr_key := outside_key_of(digest, None)) is not None and hr_key not in seen:
                    outside += 1
                    if hr_key in linked:  # present, out of scope: left in ``digests``
                        seen.add(hr_key)
                        outside_linked(hr_key)
                    continue
                feed.pending = raw
                try:
                    row = next(reader)
                except (csv.Error, _BadBytes) as exc:
                    raise self._failure(exc, number + skipped + outside, feed) from None
                taken = feed.record()
                start = number + skipped + outside + 1
                number += len(taken)
                if not (row and row[0].strip()) and not any(map(str.strip, row)):
                    continue  # blank line, or delimiters only
                count += 1
                record = CsvRecord(start, header, row, taken)
                _mark_if_passed_over(record, skim, known)
                yield record
        finally:
            skim.skipped, skim.skipped_outside = skipped, outside
        records = count + skipped + outside
        log.info("source_read", source=self.name, type="csv", records=records)

    def _failure(self, exc: Exception, before: int, feed: _Feed) -> SourceError:
        """The record after line ``before`` cannot be read: say which line, and why."""
        if isinstance(exc, _BadBytes):
            return SourceError(
                self.name,
                f"line {before + len(feed.taken) + 1} is not valid {self._encoding} "
                f"(byte 0x{exc.byte} at column {exc.column}); "
                "set encoding: latin-1 if the file is Latin-1",
            )
        what = "malformed CSV header" if before == 0 else "malformed CSV"
        return SourceError(self.name, f"line {before + 1}: {what} ({exc})")

    def _header(self, reader: Iterator[list[str]]) -> _Header | None:
        """The column names; None for a file with nothing in it."""
        try:
            header = next(reader)
        except StopIteration:
            return None
        names = [name.strip() for name in header]
        repeated = sorted(name for name, n in Counter(names).items() if name and n > 1)
        if repeated:
            raise SourceError(
                self.name, f"the header repeats column name(s) {', '.join(map(repr, repeated))}"
            )
        if not any(names):
            raise SourceError(self.name, "the header row has no column names")
        return _Header(names, f"{self.config.delimiter}{_UNIT}{self._encoding}")


def _by_digest(digests: MutableMapping[str, int | None]) -> tuple[dict[int, str], list[str]]:
    """Stored digest -> HR key, for every person that has one (built in C: a million people
    a cycle; the digests are the same int objects, so only the table is new); and the
    people without one (to be read again in full), looked for only if there are any."""
    known: dict[int | None, str] = dict(zip(digests.values(), digests.keys(), strict=True))
    no_digest = []
    if known.pop(None, None) is not None:
        no_digest = [hr_key for hr_key, digest in digests.items() if digest is None]
    return known, no_digest  # type: ignore[return-value]


def _mark_if_passed_over(
    record: CsvRecord, skim: _Skim, known: tuple[dict[int, str], dict[int, str]]
) -> None:
    """A record given whose person was passed over earlier in the file: their key goes to
    ``seen``, so the reader holds the repeated key as it holds any other."""
    value = record.value(skim.key)
    hr_key = value.strip() if value else None
    if not hr_key:
        return
    for stored, left in ((skim.digests, known[0]), (skim.outside, known[1])):
        digest = stored.get(hr_key)
        if digest is not None and digest not in left:  # its entry was taken: passed over
            skim.seen.add(hr_key)


def _keep_not_passed_over(
    digests: MutableMapping[str, int | None], known: dict[int, str], no_digest: list[str]
) -> None:
    """``digests`` less the people passed over: those whose entry ``known`` still holds, and
    those with no digest, but for the ones the reader took out itself."""
    kept = {hr_key: digests[hr_key] for hr_key in known.values() if hr_key in digests}
    kept.update((hr_key, None) for hr_key in no_digest if hr_key in digests)
    digests.clear()
    digests.update(kept)


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

    def __init__(self, names: list[str], dialect: str) -> None:
        self.names = names
        self.width = len(names)
        self.index = {name: i for i, name in enumerate(names) if name}
        self.unnamed = any(not name for name in names)
        self._dialect = dialect  # the same bytes read with another delimiter or encoding differ
        self._hashers: dict[str, Any] = {}

    def hasher(self, fingerprint: str) -> Any:
        """A BLAKE2b keyed with the mapping, the header and the dialect, not fed yet: each
        record hashes a copy of it, which skips hashing the key again for every record."""
        hasher = self._hashers.get(fingerprint)
        if hasher is None:
            basis = _UNIT.join([fingerprint, self._dialect, *self.names]).encode()
            seed = hashlib.blake2b(basis, digest_size=32).digest()
            hasher = self._hashers[fingerprint] = hashlib.blake2b(digest_size=DIGEST_SIZE, key=seed)
        return hasher


_UNIT = "\x1f"


class CsvRecord:
    """One CSV row. Its dict is built only when asked for: an unchanged person never is."""

    __slots__ = ("_data", "_header", "_line", "_nul", "_raw", "_row")

    def __init__(
        self, line: int, header: _Header, row: list[str], raw: list[bytes], nul: str | None = None
    ) -> None:
        self._line = line
        self._header = header
        self._row = row
        self._raw = raw  # the record's bytes as the file holds them, line by line
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
        """The record's raw bytes, hashed with the mapping, the header and the dialect: no
        decoding, no dict, no JSON (``_skim`` computes the same number for a one-line record
        before parsing it). The bytes include the line end: a file whose line ends change is
        read in full once."""
        hasher = self._header.hasher(fingerprint).copy()
        for raw in self._raw:
            hasher.update(raw)
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
