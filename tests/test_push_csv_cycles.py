"""Push cycles over a real CSV file, where unchanged people are passed over before any
record is built: what a user relies on still holds, on SQLite and PostgreSQL.

A changed cell is noticed, a mapping change re-renders everyone, a bad row still names
its line, people out of scope, repeated or without a key are handled as before, and a
store upgraded from the release that kept hex digests re-reads everyone once, then is quiet.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import select, update

from syncd.config.schema.sources import CsvSourceConfig
from syncd.engine.cycle import CycleOutcome
from syncd.engine.diff import DiffPolicy
from syncd.engine.guard import Threshold
from syncd.engine.push.run import PushSettings, run_push
from syncd.engine.push.settings import JobPolling
from syncd.model import DesiredUser, stable_hash
from syncd.sources.csv import CsvSource
from syncd.state import scope, snapshots, store
from syncd.state.db import make_engine
from syncd.state.migrate import alembic_config, upgrade
from syncd.state.tables import links
from tests.fake_lms import FakeLMS, TinyMapper

COLUMNS = ["employee_id", "name", "department", "status", "email"]


def person(i: int, **changes: str) -> dict[str, str]:
    row = {
        "employee_id": f"E{i:04d}",
        "name": f"Person {i}",
        "department": "Sales" if i % 3 == 0 else "Engineering",
        "status": "contractor" if i % 10 == 7 else "active",
        "email": f"p{i}@acme.test",
    }
    return {**row, **changes}


class CountingMapper(TinyMapper):
    """TinyMapper that counts the people it renders: an unchanged person is never rendered."""

    def __init__(self) -> None:
        self.rendered = 0
        self.scoped = 0

    def in_scope(self, record: dict[str, Any], hr_key: str = "") -> bool:
        self.scoped += 1
        return super().in_scope(record, hr_key)

    def render(self, hr_key: str, record: dict[str, Any], source_hash: int | None = None):
        self.rendered += 1
        return super().render(hr_key, record, source_hash)


class ShoutingMapper(CountingMapper):
    """The same people under an edited mapping: names in capitals."""

    fingerprint = stable_hash("tiny-mapper-v2-shouting")

    def render(self, hr_key: str, record: dict[str, Any], source_hash: int | None = None):
        user = super().render(hr_key, record, source_hash)
        fields = {**user.fields, "name": user.fields["name"].upper()}
        return DesiredUser(
            hr_key=user.hr_key,
            fields=fields,
            active=user.active,
            groups=user.groups,
            courses=user.courses,
            source_hash=user.source_hash,
        )


class CsvWorld:
    """One connector over a CSV file on disk, wired to a FakeLMS."""

    def __init__(self, url: str, folder: Path) -> None:
        self.url = url
        self.path = folder / "hr.csv"
        self.engine = make_engine(url)
        self.lms = FakeLMS()
        self.mapper = CountingMapper()
        config = CsvSourceConfig(type="csv", path=str(self.path), key="employee_id")
        source = CsvSource("hr", config)
        self.settings = PushSettings(
            connector="fake",
            engine=self.engine,
            adapter=self.lms,
            mapper=self.mapper,
            key="employee_id",
            records=source.records,
            match="email",
            polling=JobPolling(first_delay=0.0, max_delay=0.0, timeout=5),
            threshold=Threshold.parse("100%"),
        )

    def write(self, rows: list[dict[str, str]]) -> None:
        with self.path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, COLUMNS)
            writer.writeheader()
            writer.writerows(rows)

    def write_text(self, text: str) -> None:
        self.path.write_text(text)

    def push(self, dry_run: bool = False):
        self.mapper.rendered = self.mapper.scoped = 0
        self.lms.writes.clear()
        return run_push(self.settings, dry_run=dry_run)

    def remembered_out_of_scope(self) -> set[str]:
        with self.engine.connect() as conn:
            return set(scope.out_of_scope_digests(conn, "fake"))

    def active(self) -> dict[str, bool]:
        return {a.fields["email"]: a.active for a in self.lms.accounts.values()}


@pytest.fixture
def world(migrated_db_url, tmp_path):
    w = CsvWorld(migrated_db_url, tmp_path)
    yield w
    w.engine.dispose()


PEOPLE = 300
IN_SCOPE = sum(1 for i in range(PEOPLE) if i % 10 != 7)


def test_an_unchanged_file_renders_nobody_and_sends_nothing(world):
    world.write([person(i) for i in range(PEOPLE)])
    first = world.push()
    assert first.outcome == CycleOutcome.SUCCESS and first.counts["created"] == IN_SCOPE
    calls = world.lms.calls
    again = world.push()
    assert again.outcome == CycleOutcome.SUCCESS and again.plan == []
    assert again.counts["records_seen"] == PEOPLE
    assert world.mapper.rendered == 0 and world.lms.calls == calls


def test_one_changed_cell_among_many_is_sent_and_only_it(world):
    rows = [person(i) for i in range(PEOPLE)]
    world.write(rows)
    world.push()
    rows[151] = person(151, name="Renamed")
    world.write(rows)
    result = world.push()
    assert world.lms.writes == [("update", "E0151")]
    assert world.mapper.rendered == 1
    assert world.lms.by_email()["p151@acme.test"].fields["name"] == "Renamed"
    assert world.push().plan == []  # and the next cycle is quiet again
    assert result.exit_code == 0


def test_a_mapping_change_re_renders_everyone(world):
    world.write([person(i) for i in range(PEOPLE)])
    world.push()
    world.settings.mapper = world.mapper = ShoutingMapper()
    result = world.push()
    assert world.mapper.rendered == IN_SCOPE  # none of the records changed
    assert result.counts["updated"] == IN_SCOPE
    assert world.lms.by_email()["p1@acme.test"].fields["name"] == "PERSON 1"
    assert world.push().plan == [] and world.mapper.rendered == 0


def test_a_shifted_row_in_the_middle_names_its_line_and_keeps_its_person(world):
    rows = [person(i) for i in range(PEOPLE)]
    world.write(rows)
    world.push()
    lines = world.path.read_text().splitlines()
    lines[101] += ",Oslo"  # person 100 (line 102) gets a cell the header has no column for
    world.write_text("\n".join(lines) + "\n")
    result = world.push()
    assert result.exit_code == 1
    [error] = result.errors
    assert error.startswith("E0100: source: line 102: line 102 has 6 cells but the header has 5")
    assert all(world.active().values()) and world.lms.writes == []


def test_a_malformed_row_in_the_middle_stops_the_cycle_naming_its_line(world):
    world.write([person(i) for i in range(PEOPLE)])
    world.push()
    lines = world.path.read_text().splitlines()
    lines[201] = 'E0200,"Person 200"x,Sales,active,p200@acme.test'  # junk after a quote
    world.write_text("\n".join(lines) + "\n")
    result = world.push()
    assert result.outcome == CycleOutcome.FAILED
    assert "line 202: malformed CSV" in result.message
    assert all(world.active().values()) and world.lms.writes == []


def test_a_repeated_key_holds_its_person_even_when_both_rows_are_unchanged(world):
    rows = [person(i) for i in range(20)]
    world.write(rows)
    world.push()
    world.write([*rows, person(4)])
    result = world.push()
    assert any("'E0004' appears more than once" in error for error in result.errors)
    assert world.lms.writes == [] and all(world.active().values())


def test_a_repeated_key_is_held_whichever_of_its_rows_comes_first(world):
    rows = [person(i) for i in range(20)]
    world.write(rows)
    world.push()
    # A changed row of person 4 before its unchanged one; person 9's unchanged row first.
    world.write([person(4, name="Changed"), *rows, person(9, name="Changed too")])
    result = world.push()
    for key in ("E0004", "E0009"):
        assert any(f"'{key}' appears more than once" in error for error in result.errors)
    assert world.lms.writes == [] and all(world.active().values())


def test_leavers_blank_keys_and_scope_with_unchanged_people_around(world):
    rows = [person(i) for i in range(20)]
    world.write(rows)
    world.push()
    # Person 5 leaves, person 6 falls out of scope, person 8's key is blanked.
    changed = [r for r in rows if r["employee_id"] != "E0005"]
    changed[5] = person(6, status="contractor")
    changed[7] = person(8, employee_id=" ")
    world.write(changed)
    result = world.push()
    assert ("deactivate", "E0006") in world.lms.writes  # out of scope: in the file, seen
    assert ("deactivate", "E0005") not in world.lms.writes  # a keyless row may be them
    assert any("not deactivated this cycle" in error for error in result.errors)
    world.write([r for r in changed if r["employee_id"].strip()])
    world.push()
    assert world.lms.writes == [("deactivate", "E0005"), ("deactivate", "E0008")]
    assert world.push().plan == []


def test_a_store_upgraded_from_hex_digests_re_reads_everyone_once_then_is_quiet(world):
    world.write([person(i) for i in range(PEOPLE)])
    world.push()
    world.engine.dispose()
    command.downgrade(alembic_config(world.url), "0007")  # the release before 0008
    old = make_engine(world.url)
    with old.begin() as conn:  # what it stored: 32-character hex digests
        conn.exec_driver_sql("UPDATE links SET source_hash = 'a3f1c0de5b7e4d2f9a8b6c4d2e0f1a3b'")
    old.dispose()
    upgrade(world.url)
    with world.engine.connect() as conn:
        assert set(conn.execute(select(links.c.source_hash)).scalars()) == {None}

    first = world.push()
    assert world.mapper.rendered == IN_SCOPE and first.plan == []  # read, nothing to send
    assert first.outcome == CycleOutcome.SUCCESS
    second = world.push()
    assert world.mapper.rendered == 0 and second.plan == []


def test_a_digest_the_store_lost_re_reads_that_person_only(world):
    world.write([person(i) for i in range(PEOPLE)])
    world.push()
    with world.engine.begin() as conn:
        conn.execute(update(links).where(links.c.hr_key == "E0042").values(source_hash=None))
    assert world.push().plan == [] and world.mapper.rendered == 1


def test_a_line_inside_a_record_is_never_taken_for_the_person_it_spells(world):
    """A skimmed line is a whole record only from a record's start: the same bytes inside
    another record's quoted value are that value, and the person they spell has left."""
    rows = [person(i) for i in range(20)]
    world.write(rows)
    world.push()
    lines = world.path.read_text().splitlines(keepends=True)
    spelled = lines[6]  # person 5's whole line, now only inside person 4's note
    lines[5] = lines[5].rstrip("\n").replace("p4@acme.test", '"p4@acme.test') + "\n"
    lines[6] = spelled.rstrip("\n") + '"\n'
    world.write_text("".join(lines))
    result = world.push()
    assert result.outcome == CycleOutcome.SUCCESS
    assert sorted(world.lms.writes) == [("deactivate", "E0005"), ("update", "E0004")]
    emails = [account.fields["email"] for account in world.lms.accounts.values()]
    assert [e for e in emails if "E0005" in e] == [f"p4@acme.test\n{spelled.rstrip()}"]


def test_other_line_ends_are_read_again_once_then_quiet(world):
    world.write([person(i) for i in range(PEOPLE)])
    world.push()
    text = world.path.read_text()
    world.path.write_bytes(text.replace("\r\n", "\n").encode())  # the export's new line ends
    first = world.push()
    assert world.mapper.rendered == IN_SCOPE and first.plan == []
    assert world.push().plan == [] and world.mapper.rendered == 0


def test_a_file_of_bare_carriage_returns_is_quiet_when_unchanged(world):
    world.write([person(i) for i in range(20)])
    world.path.write_bytes(world.path.read_bytes().replace(b"\r\n", b"\r"))
    assert world.push().counts["created"] == sum(1 for i in range(20) if i % 10 != 7)
    again = world.push()
    assert again.plan == [] and world.mapper.rendered == 0 and world.lms.writes == []


def test_a_bad_byte_among_unchanged_lines_names_its_line_and_changes_nobody(world):
    world.write([person(i) for i in range(PEOPLE)])
    world.push()
    lines = world.path.read_bytes().splitlines(keepends=True)
    lines[250] = lines[250].replace(b"Person 249", "Persön 249".encode("latin-1"))
    world.path.write_bytes(b"".join(lines))
    result = world.push()
    assert result.outcome == CycleOutcome.FAILED
    assert "line 251 is not valid utf-8 (byte 0xf6 at column 11)" in result.message
    assert world.lms.writes == [] and all(world.active().values())


CONTRACTORS = {f"E{i:04d}" for i in range(PEOPLE) if i % 10 == 7}


def test_people_out_of_scope_are_evaluated_once_while_their_records_are_unchanged(world):
    rows = [person(i) for i in range(PEOPLE)]
    world.write(rows)
    world.push()
    assert world.remembered_out_of_scope() == CONTRACTORS
    quiet = world.push()
    assert quiet.plan == [] and world.mapper.scoped == 0 and world.mapper.rendered == 0
    assert quiet.counts["records_seen"] == PEOPLE
    # A contractor is hired, an employee becomes a contractor, a contractor leaves.
    rows[7] = person(7, status="active")
    rows[8] = person(8, status="contractor")
    del rows[17]
    world.write(rows)
    world.push()
    people = {(kind, key) for kind, key in world.lms.writes if kind != "group_add"}
    assert people == {("create", "E0007"), ("deactivate", "E0008")}
    assert world.remembered_out_of_scope() == CONTRACTORS - {"E0007", "E0017"} | {"E0008"}
    again = world.push()  # the one linked person out of scope too: deactivated, remembered
    assert again.plan == [] and world.mapper.scoped == 0 and world.lms.writes == []


def _plain_records(world):
    """The world's file read as a source that cannot skim (an API, a database): every record
    reaches ``read_people``, which passes over the unchanged ones itself."""
    config = CsvSourceConfig(type="csv", path=str(world.path), key="employee_id")
    world.settings.records = lambda: iter(list(CsvSource("hr", config).records()))


@pytest.mark.parametrize("skims", [True, False], ids=["csv", "plain source"])
def test_a_leaver_the_file_keeps_out_of_scope_is_evaluated_once_then_rehired(world, skims):
    """Files keep leavers for years; a scope that leaves them out deactivates them once, and
    then passes them over while their record is unchanged, until they come back."""
    if not skims:
        _plain_records(world)
    rows = [person(i) for i in range(PEOPLE)]
    world.write(rows)
    world.push()
    leavers = range(100, 140)
    for i in leavers:
        rows[i] = person(i, status="contractor")  # out of scope now, still in the file
    world.write(rows)
    assert world.push().counts["deactivated"] == sum(1 for i in leavers if i % 10 != 7)

    quiet = world.push()

    assert quiet.plan == [] and world.mapper.scoped == 0 and quiet.counts["records_seen"] == PEOPLE
    rows[101] = person(101, status="active")
    world.write(rows)
    back = world.push()
    assert back.counts["reactivated"] == 1 and world.lms.writes[0] == ("reactivate", "E0101")
    assert "E0101" not in world.remembered_out_of_scope() and world.mapper.scoped == 1
    assert world.active()["p101@acme.test"] and not world.active()["p102@acme.test"]


@pytest.mark.parametrize("skims", [True, False], ids=["csv", "plain source"])
def test_a_remembered_leaver_is_present_to_the_leaver_rules(world, skims):
    """Passed over, a linked person out of scope is still in the file: a record without a
    key (which defers the deactivation of people missing) does not hold back their delete."""
    if not skims:
        _plain_records(world)
    rows = [person(i) for i in range(PEOPLE)]
    world.write(rows)
    world.push()
    rows[100] = person(100, status="contractor")
    world.write(rows)
    world.push()
    world.push()  # remembered now
    world.write([*rows, person(999, employee_id="")])
    world.settings.policy = DiffPolicy(on_missing="delete")

    result = world.push()

    assert ("delete", "E0100") in world.lms.writes and world.mapper.scoped == 0
    assert any("no 'employee_id'" in error for error in result.errors)


def test_a_mapping_change_evaluates_the_people_out_of_scope_again(world):
    world.write([person(i) for i in range(PEOPLE)])
    world.push()
    world.settings.mapper = world.mapper = ShoutingMapper()
    world.push()
    assert world.mapper.scoped == PEOPLE  # every record, the contractors' too
    world.push()
    assert world.mapper.scoped == 0 and world.remembered_out_of_scope() == CONTRACTORS


def test_a_dry_run_still_names_the_people_out_of_scope(world):
    world.write([person(i) for i in range(PEOPLE)])
    world.push()
    preview = world.push(dry_run=True)
    assert preview.forecast.out_of_scope == len(CONTRACTORS)
    assert preview.forecast.scope_reasons["E0007"] == "status is 'contractor'"
    assert world.remembered_out_of_scope() == CONTRACTORS


def test_a_repeated_key_out_of_scope_is_held_whichever_row_comes_first(world):
    rows = [person(i) for i in range(20)]
    world.write(rows)
    world.push()
    for written in ([*rows, person(17, status="active")], [person(17, status="active"), *rows]):
        world.write(written)  # a remembered contractor's key, twice: one row now hired
        result = world.push()
        assert any("'E0017' appears more than once" in error for error in result.errors)
        assert world.lms.writes == []


def test_quiet_cycles_recall_the_snapshot_instead_of_reading_every_link(world, monkeypatch):
    monkeypatch.setattr(snapshots, "rewrite_after", lambda linked: 0)  # not 1,000 at least
    world.write([person(i) for i in range(PEOPLE)])
    world.push()
    world.push()  # reads the links made by the first push whole, and keeps them
    read: list[str] = []  # the statuses whose links were read page by page
    original = store.paged_digests
    monkeypatch.setattr(
        store,
        "paged_digests",
        lambda conn, c, status: read.append(status) or original(conn, c, status),
    )

    assert world.push().plan == [] and world.push().plan == []
    assert "linked" not in read and "deactivated" in read and world.mapper.rendered == 0


def test_a_link_changed_behind_the_snapshot_is_still_put_right(world, monkeypatch):
    """A write that leaves ``updated_at`` alone (by hand here) must not let the snapshot
    pass over the person: the link no longer says what was pushed, so they are read again."""
    monkeypatch.setattr(snapshots, "rewrite_after", lambda linked: 0)
    rows = [person(i) for i in range(PEOPLE)]
    world.write(rows)
    world.push()
    world.push()  # the snapshot now holds everyone
    account = world.lms.by_email()["p42@acme.test"]
    account.fields["name"] = "Edited in the LMS"
    with world.engine.begin() as conn:  # as if that edit had been pushed, under a new digest
        stale = {"login": "E0042", "name": "Edited in the LMS", "email": "p42@acme.test"}
        conn.execute(
            update(links)
            .where(links.c.hr_key == "E0042")
            .values(source_hash=7, fields={**account.fields, **stale})
        )

    result = world.push()

    assert world.lms.writes == [("update", "E0042")] and result.exit_code == 0
    assert world.lms.by_email()["p42@acme.test"].fields["name"] == "Person 42"


def test_people_deactivated_long_ago_are_not_loaded_again_until_the_policy_deletes(
    world, monkeypatch
):
    rows = [person(i) for i in range(PEOPLE)]
    world.write(rows)
    world.push()
    world.write(rows[:250])  # 50 people leave (45 of them linked: the rest are contractors)
    assert world.push().counts["deactivated"] == 45
    loaded: list[str] = []
    original = store.load_links
    monkeypatch.setattr(
        store, "load_links", lambda conn, c, keys: original(conn, c, loaded.extend(keys) or keys)
    )

    assert world.push().plan == [] and loaded == []

    world.settings.policy = DiffPolicy(on_missing="delete")
    result = world.push()
    assert result.counts["deleted"] == 45 and len(set(loaded)) == 45
    assert world.push().plan == []
