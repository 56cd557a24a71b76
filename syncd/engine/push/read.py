"""Push step 1, read: the HR source into desired users, keyed by HR key (SPEC §4 steps 1-2).

Memory stays bounded by the number of *changed* people: for everyone else only
the HR key and a 64-bit digest of (record, mapping) are held, and an unchanged
digest skips rendering, validation and the diff altogether. A source that can
digest its raw rows (``SkipsUnchanged``: the CSV file) passes over unchanged
people itself, so they cost no record object and no dict either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from syncd.collector import make_old
from syncd.mapping import MappingError
from syncd.model import DesiredUser
from syncd.sources.base import Record, SkipsUnchanged, key_text, keyed

MAX_KEY_LENGTH = 255
"""The longest HR key the state store keeps (its ``hr_key`` columns)."""


class SourceEmpty(Exception):
    """The source gave no record: nothing is deprovisioned on an empty source (SPEC §6)."""


class MapperLike(Protocol):
    fingerprint: str

    def in_scope(self, record: dict[str, Any]) -> bool: ...

    def scope_reason(self, record: dict[str, Any]) -> str: ...

    def render(
        self, hr_key: str, record: dict[str, Any], source_hash: int | None = None
    ) -> DesiredUser: ...


@dataclass(slots=True)
class RecordError:
    hr_key: str
    operation: str  # source | map | validate
    reason: str


@dataclass(slots=True)
class Reading:
    """What the source said, person by person, before anything is compared with the LMS."""

    desired: dict[str, DesiredUser] = field(default_factory=dict)  # changed people only
    errors: list[RecordError] = field(default_factory=list)
    errors_in_order: int = 0  # the first errors, in the source's order; repeated keys' follow
    valid_keys: set[str] = field(default_factory=set)  # rendered and validated this cycle
    # Every HR key read; a source that skims (``SkipsUnchanged``) leaves out the unchanged.
    seen: set[str] = field(default_factory=set)
    held: set[str] = field(default_factory=set)  # present but unusable: neither changed nor removed
    out_of_scope: set[str] = field(default_factory=set)  # read in full and out of scope
    out_of_scope_unchanged: int = 0  # passed over: out of scope before, record unchanged
    # People out of scope (``state.scope``): found out of scope this cycle (key -> digest), to
    # remember; remembered but no longer out of scope unchanged, to forget.
    outside_found: dict[str, int] = field(default_factory=dict)
    outside_dropped: set[str] = field(default_factory=set)
    in_scope_count: int = 0  # rendered or unchanged: people this connector's LMS gets
    # Why, for the first ``REASONS_KEPT`` people out of scope (every one asked for by ``only``).
    scope_reasons: dict[str, str] = field(default_factory=dict)
    unchanged_keys: set[str] = field(default_factory=set)  # kept only for ``only``'s people
    # People with no link yet, once more than ``stream_after`` of them: kept as keys only,
    # rendered again a chunk at a time when planned (``stream``); empty when not streamed.
    new_keys: set[str] = field(default_factory=set)
    streams: bool = False  # new people are planned a chunk at a time (``new_keys``)
    records_seen: int = 0
    unchanged: int = 0
    keyless: int = 0  # records without a usable key: one of them may be a person gone missing
    key_column_seen: bool = False

    def release(self) -> None:
        """Forget the people read once their plan is recorded: sending needs only the
        operations, and a first sync read a million (counts and errors stay)."""
        for kept in (self.desired, self.valid_keys, self.seen, self.held, self.out_of_scope):
            kept.clear()
        self.outside_found.clear()
        self.outside_dropped.clear()


REASONS_KEPT = 20
"""How many out-of-scope people a reading says why for (a plan shows them as examples)."""

Digests = MutableMapping[str, int | None]
"""HR key -> source digest of every linked person (``store.link_digests``); ``read_people``
removes each key it reads, so what remains are the links of people gone or out of scope."""

_ABSENT = object()


def read_people(
    records: Iterable[Record],
    key: str,
    mapper: MapperLike,
    validate: Callable[[DesiredUser], list[str]],
    digests: Digests,
    only: frozenset[str] | None = None,
    source: str = "the source",
    stream_after: int | None = None,
    outside: MutableMapping[str, int] | None = None,
) -> Reading:
    """Read the whole source; render and validate the people whose record or mapping changed.

    ``only`` limits the changes to these HR keys (provisioning on demand): the rest
    of the source is read, for duplicate keys, but neither rendered nor changed.
    With ``stream_after``, once more than that many people have no link (a first sync),
    none of them is kept rendered: their keys are (``Reading.new_keys``), and the ones
    after are neither rendered nor validated here (``stream`` does, a chunk at a time).

    ``digests`` is consumed: each HR key read is removed from it, but for people now out
    of scope, so what remains are the links of the people who left or fell out of scope.
    ``outside`` (``state.scope``), when given, is consumed too: a person whose record has
    the digest it holds is still out of scope, and is not evaluated again (one with a link
    stays in ``digests`` and in ``Reading.out_of_scope``, as if read in full);
    ``Reading.outside_found`` and ``outside_dropped`` say what to remember and forget.
    """
    reading = Reading()
    make_old()  # its sets are about to hold every key read (``collector``)
    duplicates: set[str] = set()
    seen, fingerprint = reading.seen, mapper.fingerprint
    fell_out: dict[str, int | None] = {}  # out of scope now, linked before: back to digests
    skimmer = records if only is None and isinstance(records, SkipsUnchanged) else None
    if skimmer is not None:  # the unchanged people never reach the loop below
        records = skimmer.changed(key, fingerprint, digests, seen, outside)
    records_seen = unchanged = outside_unchanged = 0
    for record in records:  # a changed person, or every one when the source cannot skim
        records_seen += 1
        value = record.value(key)  # a CSV cell is text: its key is one strip, not a call
        hr_key = (value.strip() or None) if type(value) is str else key_text(value)
        if hr_key is None or len(hr_key) > MAX_KEY_LENGTH:
            reading.key_column_seen = (
                reading.key_column_seen or hr_key is not None or record.has_column(key)
            )
            reading.keyless += 1
            where = record.position
            if hr_key is not None:
                reason = (
                    f"{where}: its {key!r} is {len(hr_key):,} characters long, longer than "
                    f"the {MAX_KEY_LENGTH} the state store keeps"
                )
            else:  # a record that is no record at all says so, rather than "no key"
                reason = record.problem or f"{where}: the record has no {key!r}"
            reading.errors.append(RecordError(f"<{where}>", "source", reason))
            continue
        if hr_key in seen:
            duplicates.add(hr_key)
            continue
        seen.add(hr_key)
        last = digests.pop(hr_key, _ABSENT)
        if only is not None and hr_key not in only:
            continue
        problem = record.problem
        if problem:
            _hold(reading, RecordError(hr_key, "source", f"{record.position}: {problem}"))
            continue
        digest = None
        if outside and (remembered := outside.pop(hr_key, None)) is not None:
            digest = record.digest(fingerprint)
            if remembered == digest:
                outside_unchanged += 1  # out of scope when last read, and the same record
                if last is not _ABSENT:  # with a link: still out of scope, as if read in full
                    reading.out_of_scope.add(hr_key)
                    fell_out[hr_key] = last  # type: ignore[assignment]
                continue
            reading.outside_dropped.add(hr_key)
        if last is _ABSENT and reading.streams:
            _count_new(reading, mapper, hr_key, record.data)
            if outside is not None and hr_key in reading.out_of_scope:
                reading.outside_found[hr_key] = (
                    record.digest(fingerprint) if digest is None else digest
                )
            continue
        if digest is None and last is not _ABSENT:
            # Someone with no link has no digest to compare with: theirs is made only if they
            # are in scope, or to remember them out of scope (``outside``).
            digest = record.digest(fingerprint)
        if last == digest:
            unchanged += 1  # the digest covers the scope: it was in scope, and still is
            if only is not None:
                reading.unchanged_keys.add(hr_key)
            continue
        desired = _render(
            mapper, hr_key, record, fingerprint, digest, reading, explain=only is not None
        )
        if desired is None:
            if hr_key not in reading.out_of_scope:
                continue  # held: its record does not map
            if last is not _ABSENT:
                fell_out[hr_key] = last  # type: ignore[assignment]
            if outside is not None:
                reading.outside_found[hr_key] = (
                    record.digest(fingerprint) if digest is None else digest
                )
            continue
        reasons = validate(desired)
        if reasons:
            _hold(reading, RecordError(hr_key, "validate", "; ".join(reasons)))
            continue
        reading.valid_keys.add(hr_key)
        if (
            stream_after is not None
            and last is _ABSENT
            and _streamed(reading, hr_key, stream_after)
        ):
            continue
        reading.desired[hr_key] = desired
    if skimmer is not None:
        reading.out_of_scope.update(skimmer.skipped_linked_out_of_scope)
        records_seen += skimmer.skipped + skimmer.skipped_out_of_scope
        unchanged += skimmer.skipped
        outside_unchanged += skimmer.skipped_out_of_scope
    digests.update(fell_out)
    if outside is not None:  # never read again, or read with a link: forgotten
        reading.outside_dropped.update(outside)
    reading.records_seen = records_seen
    reading.unchanged = unchanged
    reading.in_scope_count += unchanged
    reading.out_of_scope_unchanged = outside_unchanged
    passed_over = unchanged + outside_unchanged
    reading.key_column_seen = reading.key_column_seen or len(seen) > 0 or passed_over > 0

    if reading.records_seen == 0:
        raise SourceEmpty(f"{source} gave no record: nothing is changed or deprovisioned")
    if not reading.key_column_seen:
        raise SourceEmpty(
            f"{source} has no {key!r} column (its key) in any of its "
            f"{reading.records_seen:,} records: nothing is changed or deprovisioned; "
            "check the source's key setting"
        )
    if only is None and (reading.out_of_scope or outside_unchanged) and not reading.in_scope_count:
        raise SourceEmpty(
            f"the connector's scope leaves none of the {reading.records_seen:,} records of "
            f"{source} in scope: nothing is changed or deprovisioned; check the scope"
        )
    reading.errors_in_order = len(reading.errors)
    for hr_key in duplicates if only is None else duplicates & only:
        reason = (
            f"{key} {hr_key!r} appears more than once in the source; "
            "none of its records is used until it is unique"
        )
        _hold(reading, RecordError(hr_key, "source", reason))
        reading.desired.pop(hr_key, None)
        reading.valid_keys.discard(hr_key)
        reading.new_keys.discard(hr_key)
        if reading.outside_found.pop(hr_key, None) is not None:
            reading.outside_dropped.add(hr_key)  # each of its records is read in full again
    if not reading.streams:
        reading.new_keys.clear()  # few enough: they were kept rendered, and go with the rest
    return reading


def _streamed(reading: Reading, hr_key: str, stream_after: int) -> bool:
    """Count a person with no link; True once they are too many to keep rendered (the
    ones kept so far are let go then: their keys stay)."""
    new_keys = reading.new_keys
    new_keys.add(hr_key)
    if len(new_keys) <= stream_after:
        return False
    if not reading.streams:
        reading.streams = True
        for kept in new_keys:
            reading.desired.pop(kept, None)
    return True


def _count_new(reading: Reading, mapper: MapperLike, hr_key: str, data: dict[str, Any]) -> None:
    """A new person of a streamed sync: only its scope is read now. It is rendered and
    validated once, when its chunk is planned (``stream``), which names a bad record."""
    try:
        if not mapper.in_scope(data):
            reading.out_of_scope.add(hr_key)
            if len(reading.scope_reasons) < REASONS_KEPT:
                reading.scope_reasons[hr_key] = mapper.scope_reason(data)
            return
    except MappingError as error:
        _hold(reading, RecordError(hr_key, "map", str(error.reason)))
        return
    reading.in_scope_count += 1
    reading.new_keys.add(hr_key)


def render_people(
    records: Iterable[Record], key: str, mapper: MapperLike, wanted: set[str]
) -> dict[str, DesiredUser]:
    """The people in ``wanted`` as their source records render now (``rendered_people``)."""
    return {desired.hr_key: desired for desired in rendered_people(records, key, mapper, wanted)}


def rendered_people(
    records: Iterable[Record],
    key: str,
    mapper: MapperLike,
    wanted: set[str],
    *,
    consume: bool = False,
) -> Iterator[DesiredUser]:
    """The people in ``wanted`` as their source records render now, one at a time in the
    source's order (the first record of each); the source is read no further than the last.

    A record that no longer renders is left out. With ``consume``, ``wanted`` itself loses
    each key as its record is read, and a key its owner takes out meanwhile is not looked for.
    """
    left = wanted if consume else set(wanted)
    for hr_key, record in keyed(records, key):
        if hr_key not in left:
            continue
        left.discard(hr_key)
        try:
            desired: DesiredUser | None = mapper.render(hr_key, record.data)
        except MappingError:
            desired = None
        if desired is not None:
            yield desired
        if not left:
            return


def _hold(reading: Reading, error: RecordError) -> None:
    """A record that cannot be used: reported, and its person neither changed nor removed."""
    reading.errors.append(error)
    reading.held.add(error.hr_key)


def _render(
    mapper: MapperLike,
    hr_key: str,
    record: Record,
    fingerprint: str,
    digest: int | None,
    reading: Reading,
    explain: bool = False,
) -> DesiredUser | None:
    """``record`` rendered, or None when out of scope or not mappable (held); its digest
    (``digest``, else made here) is stamped on it."""
    data = record.data
    try:
        if not mapper.in_scope(data):
            reading.out_of_scope.add(hr_key)
            if explain or len(reading.scope_reasons) < REASONS_KEPT:
                reading.scope_reasons[hr_key] = mapper.scope_reason(data)
            return None
        reading.in_scope_count += 1
        if digest is None:
            digest = record.digest(fingerprint)
        return mapper.render(hr_key, data, source_hash=digest)
    except MappingError as error:
        _hold(reading, RecordError(hr_key, "map", str(error.reason)))
        return None
