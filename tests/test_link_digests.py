"""A no-change cycle reads every link's digest in one go (``store.link_digests``): what it
reads is exactly what the links hold, whatever the keys, the digests and the paging, and
whether it came from the connector's snapshot or not."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select, text

from syncd.model import LinkState, LinkStatus
from syncd.state import digests, snapshots, store
from syncd.state.db import make_engine
from syncd.state.tables import link_snapshots, links

# Keys a page boundary or the arrays' encoding could mangle: separators, quotes, escapes,
# control characters, accents and scripts that sort apart in one collation and together
# in another, and case.
KEYS = [
    "E1",
    "e1",
    "E10",
    "E2",
    "line\nbreak",
    'quote"d',
    "back\\slash",
    "tab\there",
    "unit\x1fsep",
    "comma,semi;colon",
    "[1]",
    "null",
    "Zoë",
    "zoe",
    "Ōtsuka 李 ✓",
    "😀",
    "_under",
    " spaced ",
    "x" * 255,
]
DIGESTS = [-(2**63), 2**63 - 1, 0, -1, 1, None, 2**53 + 1]


def _links() -> list[LinkState]:
    statuses = [LinkStatus.LINKED] * 4 + [LinkStatus.DEACTIVATED, LinkStatus.PENDING]
    return [
        LinkState(
            key,
            f"r{i}",
            {},
            True,
            status=statuses[i % len(statuses)],
            source_hash=DIGESTS[i % len(DIGESTS)],
        )
        for i, key in enumerate(KEYS)
    ]


def _saved(url: str) -> list[LinkState]:
    saved = _links()
    engine = make_engine(url)
    with engine.begin() as conn:
        store.save_links(conn, "lms", saved)
        other = [LinkState(key, None, {}, True, source_hash=7) for key in ("E1", "other")]
        store.save_links(conn, "other", other)  # another connector's links are not read
    engine.dispose()
    return saved


def _read(url: str) -> store.LinkDigests:
    engine = make_engine(url)
    with engine.connect() as conn:
        read = store.link_digests(conn, "lms")
    engine.dispose()
    return read


@pytest.mark.parametrize("page", [1, 2, 3, 1000])
def test_every_link_is_read_with_its_digest_and_status_whatever_the_paging(
    migrated_db_url, monkeypatch, page
):
    saved = _saved(migrated_db_url)
    monkeypatch.setattr(digests, "PAGE", page)

    read = _read(migrated_db_url)

    assert dict(read) == {link.hr_key: link.source_hash for link in saved}
    assert {key: read.status(key) for key in read} == {link.hr_key: link.status for link in saved}
    assert read.statuses == {
        link.hr_key: link.status for link in saved if link.status is not LinkStatus.LINKED
    }
    engine = make_engine(migrated_db_url)
    with engine.connect() as conn:
        counted = store.count_links(conn, "lms", [LinkStatus.LINKED])
    engine.dispose()
    assert read.linked == counted == sum(link.status is LinkStatus.LINKED for link in saved)


def test_a_connector_without_links_reads_none(migrated_db_url):
    read = _read(migrated_db_url)

    assert dict(read) == {} and read.statuses == {} and read.linked == 0


def test_a_sqlite_without_json_functions_reads_the_rows_instead(sqlite_url, monkeypatch):
    """The arrays need SQLite's JSON functions (built in since 3.38); without them the
    links are read as rows, to the same result."""
    from syncd.state.migrate import upgrade

    upgrade(sqlite_url)
    saved = _saved(sqlite_url)
    monkeypatch.setattr(digests, "PAGE", 2)
    monkeypatch.setattr(digests, "_SQLITE", "SELECT no_such_function(hr_key), 1")

    read = _read(sqlite_url)

    assert dict(read) == {link.hr_key: link.source_hash for link in saved}
    assert read.linked == sum(link.status is LinkStatus.LINKED for link in saved)


# --- the snapshot: one row a connector, checked against the links before use -------------


def _kept(url: str) -> None:
    """A push's first step: the links read whole, and kept as the connector's snapshot."""
    engine = make_engine(url)
    with engine.connect() as conn:
        read = store.link_digests(conn, "lms")
    assert read.snapshot_due
    with engine.begin() as conn:
        snapshots.keep(conn, "lms", read.linked_items(), read.read_at)
    engine.dispose()


def _truth(url: str) -> dict[str, int | None]:
    engine = make_engine(url)
    with engine.connect() as conn:
        columns = select(links.c.hr_key, links.c.source_hash, links.c.status)
        rows = conn.execute(columns.where(links.c.connector == "lms")).all()
    engine.dispose()
    return {key: digest for key, digest, status in rows if status == "linked"}


def _recalled(url: str) -> tuple[int | None, dict[str, int | None]]:
    engine = make_engine(url)
    into: dict[str, int | None] = {}
    with engine.connect() as conn:
        changed = snapshots.recall(conn, "lms", into)
    engine.dispose()
    return changed, into


def test_a_kept_snapshot_is_recalled_as_exactly_what_the_links_hold(migrated_db_url):
    saved = _saved(migrated_db_url)
    _kept(migrated_db_url)

    changed, recalled = _recalled(migrated_db_url)
    read = _read(migrated_db_url)

    assert changed == 0 and recalled == _truth(migrated_db_url)
    assert dict(read) == {link.hr_key: link.source_hash for link in saved}
    assert read.statuses == {
        link.hr_key: link.status for link in saved if link.status is not LinkStatus.LINKED
    }
    assert read.linked == len(recalled) and not read.snapshot_due


def test_links_changed_since_the_snapshot_are_applied_to_it(migrated_db_url):
    saved = _saved(migrated_db_url)
    _kept(migrated_db_url)
    linked = [link for link in saved if link.status is LinkStatus.LINKED]
    off = next(link for link in saved if link.status is LinkStatus.DEACTIVATED)
    changes = [
        LinkState("new person", "r-new", {}, True, source_hash=99),  # hired
        replace(linked[0], source_hash=12345),  # record changed
        replace(linked[1], source_hash=None),  # to be read again
        replace(linked[2], status=LinkStatus.DEACTIVATED, active=False),  # left
        replace(off, status=LinkStatus.LINKED, active=True, source_hash=7),  # rehired
    ]
    engine = make_engine(migrated_db_url)
    with engine.begin() as conn:
        store.save_links(conn, "lms", changes)
        store.set_source_hashes(conn, "lms", [(linked[3].hr_key, -5)])  # planned afresh
    engine.dispose()

    changed, recalled = _recalled(migrated_db_url)

    assert changed == len(changes) + 1
    assert recalled == _truth(migrated_db_url)
    assert recalled["new person"] == 99 and linked[2].hr_key not in recalled
    assert not _read(migrated_db_url).snapshot_due


HAND_EDITS = {
    "a digest changed": "UPDATE links SET source_hash = 42 WHERE hr_key = 'E1'",
    "a digest lost": "UPDATE links SET source_hash = NULL WHERE hr_key = 'E1'",
    "a link deleted": "DELETE FROM links WHERE hr_key = 'E1'",
    "a status changed": "UPDATE links SET status = 'failed' WHERE hr_key = 'E1'",
}


@pytest.mark.parametrize("edit", HAND_EDITS)
def test_a_change_that_left_updated_at_alone_has_the_links_read_whole(migrated_db_url, edit):
    """Nothing but the figures says the snapshot may be used: a write that does not move
    ``updated_at`` (by hand here; ``forget_source_hashes`` in the code) is still seen."""
    _saved(migrated_db_url)
    _kept(migrated_db_url)
    engine = make_engine(migrated_db_url)
    with engine.begin() as conn:
        conn.execute(text(HAND_EDITS[edit]))
    engine.dispose()

    changed, recalled = _recalled(migrated_db_url)
    read = _read(migrated_db_url)

    assert changed is None and recalled == {}
    assert {k: v for k, v in read.items() if k not in read.statuses} == _truth(migrated_db_url)
    assert read.snapshot_due


def test_digests_forgotten_by_the_code_have_the_links_read_whole(migrated_db_url):
    _saved(migrated_db_url)
    _kept(migrated_db_url)
    engine = make_engine(migrated_db_url)
    with engine.begin() as conn:
        store.forget_source_hashes(conn, "lms", ["E1"])
    engine.dispose()

    changed, _ = _recalled(migrated_db_url)

    assert changed is None and _read(migrated_db_url)["E1"] is None


def test_too_many_changes_since_have_the_links_read_whole(migrated_db_url, monkeypatch):
    saved = _saved(migrated_db_url)
    _kept(migrated_db_url)
    engine = make_engine(migrated_db_url)
    with engine.begin() as conn:
        store.save_links(conn, "lms", [replace(saved[0], source_hash=3)])
    engine.dispose()
    assert _recalled(migrated_db_url)[0] == 1
    monkeypatch.setattr(snapshots, "read_whole_after", lambda linked: 0)

    assert _recalled(migrated_db_url) == (None, {})
    assert _read(migrated_db_url)[saved[0].hr_key] == 3


def test_a_key_the_snapshot_cannot_separate_is_never_kept(sqlite_url):
    """SQLite text may hold NUL, the snapshot's separator: such links are read whole."""
    from syncd.state.migrate import upgrade

    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    with engine.begin() as conn:
        store.save_links(conn, "lms", [LinkState("a\0b", "r", {}, True, source_hash=1)])
    engine.dispose()
    _kept(sqlite_url)

    assert _recalled(sqlite_url) == (None, {})
    assert dict(_read(sqlite_url)) == {"a\0b": 1}


def test_a_snapshot_that_is_not_what_keep_wrote_has_the_links_read_whole(migrated_db_url):
    saved = _saved(migrated_db_url)
    _kept(migrated_db_url)
    engine = make_engine(migrated_db_url)
    with engine.begin() as conn:  # a byte that is no UTF-8, and a digest cut short
        conn.execute(link_snapshots.update().values(keys=b"\xff\xfe", digests=b"\x01\x02"))
    engine.dispose()

    assert _recalled(migrated_db_url) == (None, {})
    assert dict(_read(migrated_db_url)) == {link.hr_key: link.source_hash for link in saved}
