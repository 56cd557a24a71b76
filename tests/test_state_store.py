"""The state store answers with a sentence and an exit code, never a traceback.

A store migrated by a newer syncd, a SQLite file in a folder that does not exist, a
store locked by another writer, and several processes starting on one empty store at
the same moment: each is met as an operator would meet it, through real ``syncd``
processes.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Text, cast, event, select, text

from syncd.model import LinkState, LinkStatus, Operation, OpKind, OpState
from syncd.state import store
from syncd.state.bulk import BulkWriter
from syncd.state.db import make_engine
from syncd.state.migrate import current_revision, head_revision, upgrade
from syncd.state.tables import links, operations, sync_status
from tests.support.cli import run_syncd, syncd_command
from tests.support.configs import talentlms_connector, write_config
from tests.support.e2e import write_rows
from tests.support.store import NEWER_REVISION, set_revision

FUTURE = NEWER_REVISION


def _config(tmp_path, state_url: str):
    person = {"employee_id": "E1", "first_name": "A", "last_name": "B", "email": "a@example.com"}
    write_rows(tmp_path / "hr.csv", list(person), [person])
    connector = talentlms_connector("lms", "http://127.0.0.1:9", "key")
    return write_config(tmp_path, state_url, connector)


@pytest.mark.parametrize("command", [["status"], ["sync", "lms"], ["db", "upgrade"]])
def test_a_store_migrated_by_a_newer_syncd_is_refused_naming_both_revisions(
    tmp_path, db_url, command
):
    upgrade(db_url)
    set_revision(db_url, FUTURE)
    config = _config(tmp_path, db_url)

    done = run_syncd(*command, "--config", str(config))

    assert done.returncode == 2, done.stderr
    assert FUTURE in done.stderr and head_revision() in done.stderr
    assert "Traceback" not in done.stderr
    assert current_revision(db_url) == FUTURE  # left as it was


def test_a_sqlite_store_in_a_missing_folder_is_named(tmp_path):
    folder = tmp_path / "no" / "such" / "folder"
    config = _config(tmp_path, f"sqlite:///{folder / 'state.db'}")

    done = run_syncd("sync", "lms", "--config", str(config))

    assert done.returncode == 2, done.stderr
    assert str(folder) in done.stderr and "does not exist" in done.stderr
    assert "Traceback" not in done.stderr
    assert not folder.exists()


def _sync_while_held(tmp_path, url: str, holder) -> subprocess.CompletedProcess:
    """``syncd sync`` while ``holder`` (an open transaction of another writer) holds the
    store; the holder lets go afterwards."""
    config = _config(tmp_path, url)
    try:
        return run_syncd("sync", "lms", "--config", str(config), timeout=120)
    finally:
        holder.rollback()
        holder.close()


def _named_lock(done: subprocess.CompletedProcess, store_named: str) -> None:
    assert done.returncode == 4, done.stderr
    assert store_named in done.stderr and "locked by another writer" in done.stderr
    assert "waited 30 s" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_locked_sqlite_store_is_waited_for_then_named_with_exit_4(tmp_path):
    db = tmp_path / "state.db"
    url = f"sqlite:///{db}"
    upgrade(url)
    holder = sqlite3.connect(db)
    holder.execute("BEGIN EXCLUSIVE")  # another writer holds the store
    _named_lock(_sync_while_held(tmp_path, url, holder), f"SQLite file {db}")


@pytest.mark.postgres
def test_a_locked_postgresql_store_is_waited_for_then_named_with_exit_4(tmp_path, postgres_url):
    """Another session holding a table syncd writes: bounded wait (lock_timeout), then exit 4."""
    upgrade(postgres_url)
    holder = make_engine(postgres_url).connect()
    holder.execute(text("LOCK TABLE sync_runs, sync_status IN ACCESS EXCLUSIVE MODE"))
    _named_lock(_sync_while_held(tmp_path, postgres_url, holder), "PostgreSQL database")


def test_processes_starting_together_on_an_empty_store_migrate_it_once(tmp_path, db_url):
    config = _config(tmp_path, db_url)
    starts = [
        subprocess.Popen(
            syncd_command("db", "upgrade", "--config", str(config)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [(process.wait(timeout=120), process.stderr.read()) for process in starts]
    for process in starts:
        process.stdout.close()
        process.stderr.close()

    assert [code for code, _ in results] == [0, 0, 0, 0], [err[-500:] for _, err in results]
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    finally:
        engine.dispose()
    assert [row[0] for row in versions] == [head_revision()]


def test_two_processes_creating_one_status_row_at_once_both_succeed(migrated_db_url):
    """Replicas started together both create their connector's status row: the second
    writer must not read "no row", then die on the primary key once the first commits."""
    engine = make_engine(migrated_db_url)
    about_to_write = threading.Event()
    failures: list[BaseException] = []

    def second_replica() -> None:
        try:
            with engine.begin() as conn:
                event.listen(conn, "before_cursor_execute", _signal_writes(about_to_write))
                store.set_status(conn, "lms", "push", next_run_at=store.now())
        except BaseException as error:  # reported by the main thread
            failures.append(error)
        finally:
            about_to_write.set()

    try:
        with engine.connect() as first:
            transaction = first.begin()
            store.set_status(first, "lms", "push", state="running")
            replica = threading.Thread(target=second_replica)
            replica.start()
            about_to_write.wait(30)  # its write is on its way (or waiting for our lock)
            transaction.commit()
        replica.join(60)
        rows = store_rows(engine)
    finally:
        engine.dispose()
    assert not failures, failures
    assert [(r["connector"], r["direction"], r["state"]) for r in rows] == [
        ("lms", "push", "running")
    ]
    assert rows[0]["next_run_at"] is not None


def _signal_writes(flag: threading.Event):
    def before(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE")):
            flag.set()

    return before


def store_rows(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(select(sync_status))]


@pytest.mark.postgres
def test_deployments_in_two_schemas_of_one_database_never_block_each_other(postgres_url):
    """Advisory locks are database-wide: a lease must still belong to its own schema."""
    from syncd.state.lease import connector_lease, lease_held

    other_url = postgres_url.replace("search_path%3D", "search_path%3Dother_")
    admin = make_engine(postgres_url)
    with admin.begin() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar()
        conn.execute(text(f'CREATE SCHEMA "other_{schema}"'))
    upgrade(postgres_url)
    upgrade(other_url)
    first, second = make_engine(postgres_url), make_engine(other_url)
    try:
        with connector_lease(first, "lms:push") as held_here:
            assert held_here and lease_held(first, "lms:push")
            assert not lease_held(second, "lms:push")
            with connector_lease(second, "lms:push") as held_there:
                assert held_there
            with connector_lease(first, "lms:push") as held_twice:
                assert not held_twice
    finally:
        first.dispose()
        second.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "other_{schema}" CASCADE'))
        admin.dispose()


def test_links_are_saved_as_they_come_never_all_built_first(migrated_db_url, monkeypatch):
    """A first sync saves a million PENDING links: each batch's rows are built when it is
    written, so no more than a batch's worth is ever held (memory stays flat)."""
    monkeypatch.setattr(store, "OUTBOX_BATCH", 500)
    total = 500 * 3
    taken = 0

    def pending_links():
        nonlocal taken
        for i in range(total):
            taken += 1
            yield LinkState(f"E{i}", None, {}, False, status=LinkStatus.PENDING)

    engine = make_engine(migrated_db_url)
    taken_at_insert: list[int] = []
    executemany = BulkWriter.executemany

    def counted(writer, sql, rows):
        if sql.upper().startswith("INSERT INTO LINKS"):
            taken_at_insert.append(taken)
        executemany(writer, sql, rows)

    monkeypatch.setattr(BulkWriter, "executemany", counted)
    with engine.begin() as conn:
        store.save_links(conn, "lms", pending_links())
    with engine.connect() as conn:
        saved = store.count_links(conn, "lms", [LinkStatus.PENDING])
    engine.dispose()

    assert saved == total
    assert taken_at_insert == [500, 1000, 1500]


def test_operations_and_links_written_in_bulk_read_back_exactly_as_recorded(migrated_db_url):
    """The outbox and the links are written through the driver, not SQLAlchemy: what the
    engine reads back is what it recorded (unicode, nested values, nulls, the extreme
    digests, timestamps), and the JSON text is the one SQLAlchemy's JSON columns write."""
    fields = {
        "first_name": "Zoë",
        "last_name": "Ōtsuka 李 ✓",
        "custom": {"tags": ["a", None, 3, 1.5, True], "nested": {"empty": {}, "quote": 'x"y\\'}},
        "department": None,
    }
    ops = [
        Operation(OpKind.CREATE, "E1", fields=fields),
        Operation(OpKind.UPDATE, "E2", "42", {"email": "é@acme.test"}, ("email",)),
        Operation(OpKind.GROUP_ADD, "E1", target="Ventes & Marketing ✓"),
    ]
    digests = {"E1": -(2**63), "E2": 2**63 - 1}
    saved = [
        LinkState("E1", None, {}, False, status=LinkStatus.PENDING, source_hash=digests["E1"]),
        LinkState("E2", "42", fields, True, frozenset({"Zürich", "B"}), frozenset({"7"})),
    ]
    engine = make_engine(migrated_db_url)
    with engine.begin() as conn:
        store.record_operations(conn, "lms", 3, ops, digests.get)
        store.save_links(conn, "lms", saved)
        store.set_source_hashes(conn, "lms", [("E2", None)])
    with engine.connect() as conn:
        read = store.open_operations(conn, "lms")
        payloads = conn.execute(
            select(operations.c.id, cast(operations.c.payload, Text)).order_by(operations.c.id)
        ).all()
        links_read = store.load_links(conn, "lms", ["E1", "E2"])
        stamps = conn.execute(select(links.c.created_at, links.c.updated_at)).all()
    engine.dispose()

    assert [(op, state, job) for op, state, job in read] == [
        (op, OpState.PENDING, None) for op in ops
    ]  # ids included: those set on the operations when recorded
    assert [op_id for op_id, _ in payloads] == [op.id for op in ops]
    assert [json.loads(text) for _, text in payloads] == [
        {"fields": dict(op.fields), "changed": list(op.changed), "source_hash": digests[op.hr_key]}
        for op in ops
    ]
    assert payloads[0][1] == json.dumps(
        {"fields": fields, "changed": [], "source_hash": digests["E1"]}
    )
    assert links_read == {
        "E1": saved[0],
        "E2": replace(saved[1], source_hash=None),
    }
    assert all(
        isinstance(stamp, datetime)
        and abs(datetime.now(UTC) - (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)))
        < timedelta(minutes=5)
        for row in stamps
        for stamp in row
    )


def test_every_payload_is_json_dumps_own_text_and_pending_links_are_those_of_creates(
    migrated_db_url,
):
    """The outbox's payloads are put together from parts, and the PENDING links of creates
    written without building them: each text is still ``json.dumps`` of the payload, and
    each link the row ``save_links`` writes for ``link_for_create``'s."""
    from types import MappingProxyType

    from syncd.engine.diff import DiffPolicy
    from syncd.engine.push.outbox import link_for_create
    from syncd.model import DesiredUser

    fields = {"login": "E1", "name": "Zoë ✓", "n": 1.5, "flag": True, "none": None}
    ops = [
        Operation(OpKind.CREATE, "E1", fields=fields, changed=("flag", "login")),
        Operation(OpKind.GROUP_ADD, "E1", target="Sales"),
        Operation(OpKind.ENROLL, "E1", target="101"),
        Operation(OpKind.UPDATE, "E2", "9", MappingProxyType({"a": [1, {}]}), ("a",)),
        Operation(OpKind.UPDATE, "E3", "8", {"a": "x"}, ["a"]),  # type: ignore[arg-type]
        Operation(OpKind.CREATE, "E4", fields={"login": "E4"}, changed=("flag", "login")),
        Operation(OpKind.GROUP_ADD, "E4", target="Sales"),
    ]
    digests = {"E1": -(2**63), "E2": None, "E3": 0, "E4": 2**63 - 1}
    people = [DesiredUser(k, {}, source_hash=digests[k]) for k in ("E1", "E4")]
    policy = DiffPolicy(write_only_fields=frozenset({"password"}))
    engine = make_engine(migrated_db_url)
    with engine.begin() as conn:
        store.record_operations(conn, "lms", 1, ops, digests.get)
        store.save_pending_links(conn, "new", [(p.hr_key, p.source_hash) for p in people])
        store.save_links(conn, "built", [link_for_create(p, policy) for p in people])
    with engine.connect() as conn:
        payloads = conn.execute(
            select(cast(operations.c.payload, Text)).order_by(operations.c.id)
        ).scalars()
        columns = [c for c in links.c if c.name not in ("id", "connector", "created_at")]
        rows = {
            connector: conn.execute(
                select(*columns).where(links.c.connector == connector).order_by(links.c.hr_key)
            ).all()
            for connector in ("new", "built")
        }
        written = [
            json.dumps(
                {
                    "fields": dict(op.fields),
                    "changed": list(op.changed),
                    "source_hash": digests[op.hr_key],
                }
            )
            for op in ops
        ]
        assert list(payloads) == written
    engine.dispose()

    assert [row[:-1] for row in rows["new"]] == [row[:-1] for row in rows["built"]]
    assert len(rows["new"]) == 2
