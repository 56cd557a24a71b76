"""What every HR source gives the engine: records with a position, and one error type."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableMapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol, runtime_checkable

from syncd.model import record_hash


class SourceError(Exception):
    """The source cannot be read as a whole (missing file, SQL error, HTTP failure ...).

    The engine stops the cycle on it before any deprovisioning: an unreadable
    source must never look like an empty one, so sources raise it, never swallow it.
    """

    def __init__(self, source_name: str, reason: str) -> None:
        super().__init__(f"source {source_name!r}: {reason}")
        self.source_name = source_name
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One HR record and where it was found.

    ``position`` ("line 12", "row 7", "page 3, item 5") lets an error point a
    person at the record. ``problem``, when set, says why the record cannot be
    trusted as read (e.g. more cells than the header); the engine reports it as
    an error for that record's key instead of pushing the record.
    """

    position: str
    data: dict[str, Any]
    problem: str | None = None

    def value(self, name: str) -> Any:
        """The value of one column (None when the record lacks it)."""
        return self.data.get(name)

    def has_column(self, name: str) -> bool:
        return name in self.data

    def digest(self, fingerprint: str) -> int:
        """What the record says under one mapping, as a digest: equal means nothing to do."""
        return record_hash(fingerprint, self.data)


class Record(Protocol):
    """What the engine reads of a record; a source may build ``data`` only when asked."""

    @property
    def position(self) -> str: ...

    @property
    def data(self) -> dict[str, Any]: ...

    @property
    def problem(self) -> str | None: ...

    def value(self, name: str) -> Any: ...

    def has_column(self, name: str) -> bool: ...

    def digest(self, fingerprint: str) -> int: ...


@runtime_checkable
class SkipsUnchanged(Protocol):
    """Records that can pass over unchanged people themselves, cheaper than a record each.

    A no-change cycle reads a million people and changes none: a source that can
    digest its raw rows (the CSV file) skips every row whose person is unchanged.
    """

    skipped: int
    """How many rows the last ``changed`` passed over as unchanged (in scope)."""

    skipped_out_of_scope: int
    """How many it passed over as out of scope, unchanged (``outside``)."""

    skipped_linked_out_of_scope: list[str]
    """The keys of those that have a link (in ``digests``): added to ``seen``, as the
    reader must know them present, and still in ``digests``, as they are out of scope."""

    def changed(
        self,
        key: str,
        fingerprint: str,
        digests: MutableMapping[str, int | None],
        seen: set[str],
        outside: MutableMapping[str, int] | None = None,
    ) -> Iterator[Record]:
        """The records, less those of unchanged people: a row whose key ``digests`` (or
        ``outside``: people out of scope) holds with the row's own digest (``Record.digest``,
        the same number) is counted in ``skipped`` (``skipped_out_of_scope``) and not given,
        unless its key is in ``seen`` (the keys of the records given, which the reader adds
        as it reads them). Every other row is given as ``__iter__`` gives it, to be read in
        full; a key given after its person was passed over is added to ``seen`` first. Once
        the rows run out, ``digests`` and ``outside`` hold only the people not passed over
        (the passed over are not added to ``seen``), and people with a link passed over as
        out of scope (``skipped_linked_out_of_scope``)."""
        ...


@runtime_checkable
class Source(Protocol):
    """An HR source, read again from the start by every call of ``records``."""

    name: str

    def records(self) -> Iterator[Record]:
        """Stream the records (memory stays bounded); raise SourceError if unreadable."""
        ...


def key_text(value: Any) -> str | None:
    """An HR key as text, stripped; None when missing or blank.

    The one normalisation of HR keys: every source's records and the engine go
    through it, so one person has one key whichever source format read them.
    A value is written as JSON writes it, the text a CSV export of it holds:
    an integral float (``7.0`` from a SQL float column or a JSON number) is
    ``"7"``, a boolean is ``"true"``/``"false"``, a date is ISO 8601. A boolean
    key is almost surely a wrong ``key`` setting; it is not refused here,
    because at most two people can have one, so every further record shares a
    key and the engine already holds them all back as duplicates, saying so.
    """
    if type(value) is str:  # what CSV gives for every key: the one path a cycle takes 1M times
        return value.strip() or None
    if value is None:
        return None
    if isinstance(value, bool):
        text = str(value).lower()
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))  # 1042.0 from a float column is employee 1042
    elif isinstance(value, datetime | date):
        text = value.isoformat()
    else:
        text = str(value)
    text = text.strip()
    return text or None


def keyed(records: Iterable[Record], key: str) -> Iterator[tuple[str | None, Record]]:
    """Pair each record with its key (stripped; None when missing or empty).

    The engine decides what a missing or repeated key means; this only extracts it.
    """
    for record in records:
        yield key_text(record.value(key)), record
