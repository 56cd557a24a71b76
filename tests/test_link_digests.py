"""A no-change cycle reads every link's digest in one go (``store.link_digests``): what it
reads is exactly what the links hold, whatever the keys, the digests and the paging."""

from __future__ import annotations

import pytest

from syncd.model import LinkState, LinkStatus
from syncd.state import digests, store
from syncd.state.db import make_engine

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
