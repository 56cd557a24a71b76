"""HR sources: CSV files, SQL queries and JSON APIs, read the way the push engine reads them."""

from __future__ import annotations

import base64
import json
import threading
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter
from sqlalchemy import create_engine, text
from support_http import LoopbackServer, Received, Reply, dead_url

from syncd.config.schema.sources import SourceConfig
from syncd.http import ClientCredentialsAuth, RetryPolicy
from syncd.jsonpath import JsonPathSyntaxError, compile_path
from syncd.sources import SourceError, SourceRecord, keyed, open_source
from syncd.sources.http import HttpSource
from syncd.sources.sql import plain_value

FAST = RetryPolicy(attempts=4, backoff_initial=0.01, backoff_max=0.05, max_retry_after=0.05)


def source(config: dict[str, Any], name: str = "hr"):
    return open_source(name, TypeAdapter(SourceConfig).validate_python(config), retry=FAST)


def read(config: dict[str, Any]) -> list[SourceRecord]:
    return list(source(config).records())


def csv_file(tmp_path: Path, content: bytes, name: str = "people.csv") -> str:
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


# -- CSV ------------------------------------------------------------------------------------


def test_csv_utf8_rows_with_positions(tmp_path):
    path = csv_file(tmp_path, "employee_id,name\nE1,Zoë\nE2,Łukasz\n".encode())
    records = read({"type": "csv", "path": path, "key": "employee_id"})
    assert [(r.position, r.data, r.problem) for r in records] == [
        ("line 2", {"employee_id": "E1", "name": "Zoë"}, None),
        ("line 3", {"employee_id": "E2", "name": "Łukasz"}, None),
    ]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig"])
def test_csv_byte_order_mark_is_stripped(tmp_path, encoding):
    path = csv_file(tmp_path, b"\xef\xbb\xbfemployee_id,name\r\nE1,Ann\r\n")
    [record] = read({"type": "csv", "path": path, "key": "employee_id", "encoding": encoding})
    assert record.data == {"employee_id": "E1", "name": "Ann"}


def test_csv_latin1(tmp_path):
    path = csv_file(tmp_path, "employee_id;name\nE1;Zoë Müller\n".encode("latin-1"))
    config = {"type": "csv", "path": path, "key": "employee_id", "delimiter": ";"}
    [record] = read({**config, "encoding": "latin-1"})
    assert record.data == {"employee_id": "E1", "name": "Zoë Müller"}


def test_csv_latin1_file_read_as_utf8_names_the_line(tmp_path):
    path = csv_file(tmp_path, "id,name\n1,Ann\n2,Zoë\n".encode("latin-1"))
    records = source({"type": "csv", "path": path, "key": "id"}).records()
    with pytest.raises(SourceError) as caught:
        list(records)
    assert "line 3 is not valid utf-8" in str(caught.value)
    assert "latin-1" in caught.value.reason


def test_csv_utf8_bom_with_latin1_encoding_is_refused(tmp_path):
    path = csv_file(tmp_path, b"\xef\xbb\xbfid,name\n1,Ann\n")
    with pytest.raises(SourceError, match="byte order mark"):
        read({"type": "csv", "path": path, "key": "id", "encoding": "latin-1"})


def test_csv_delimiter_and_quoting(tmp_path):
    path = csv_file(tmp_path, b'id;name;title\n1;"Doe; Jane";"Head of ""R&D"""\n')
    [record] = read({"type": "csv", "path": path, "key": "id", "delimiter": ";"})
    assert record.data == {"id": "1", "name": "Doe; Jane", "title": 'Head of "R&D"'}


def test_csv_empty_cell_is_kept_apart_from_missing_column(tmp_path):
    path = csv_file(tmp_path, b"id,email,team\n1,,Sales\n2,b@x.org\n")
    first, short = read({"type": "csv", "path": path, "key": "id"})
    assert first.data == {"id": "1", "email": "", "team": "Sales"}
    assert short.data == {"id": "2", "email": "b@x.org"}
    assert "team" not in short.data and short.problem is None


def test_csv_extra_cells_make_a_problem_for_that_record(tmp_path):
    path = csv_file(tmp_path, b"id,name,team\n1,Doe, Jane,Sales\n2,Roe,Ops,,\n3,Poe,HR\n")
    shifted, trailing_empty, fine = read({"type": "csv", "path": path, "key": "id"})
    assert shifted.data == {"id": "1", "name": "Doe", "team": " Jane"}
    assert shifted.problem is not None
    assert "line 2 has 4 cells but the header has 3 columns" in shifted.problem
    assert trailing_empty.problem is None  # empty cells beyond the header lose nothing
    assert fine.problem is None


def test_csv_multiline_values_keep_line_numbers_right(tmp_path):
    content = b'id,note\n1,"two\nlines"\n\n2,plain\n'
    first, second = read({"type": "csv", "path": csv_file(tmp_path, content), "key": "id"})
    assert (first.position, first.data["note"]) == ("line 2", "two\nlines")
    assert second.position == "line 5"  # the blank line 4 is skipped, not a record


def test_csv_bare_carriage_returns_end_lines_as_in_any_text_file(tmp_path):
    content = b'id,note\r1,"two\rlines"\r2,plain\r\n3,x\n'
    one, two, three = read({"type": "csv", "path": csv_file(tmp_path, content), "key": "id"})
    assert (one.position, one.data["note"]) == ("line 2", "two\rlines")
    assert (two.position, two.data) == ("line 4", {"id": "2", "note": "plain"})
    assert three.position == "line 5"


def test_csv_digest_is_the_records_bytes_under_the_mapping_the_header_and_the_dialect(tmp_path):
    def digests(content: bytes, fingerprint: str = "m1", **config: str) -> list[int]:
        path = csv_file(tmp_path, content)
        source = {"type": "csv", "path": path, "key": "id", **config}
        return [r.digest(fingerprint) for r in read(source)]

    base = digests(b"id,name,team\n1,Ann,A\n2,Bob,B\n")
    assert base == digests(b"id,name,team\n\n2,Bob,B\n1,Ann,A\n")[::-1]  # where it stands
    assert base == digests(b" id , name,team\n1,Ann,A\n2,Bob,B\n")  # the same names
    changed = digests(b"id,name,team\n1,Ann,A\n2,Bob,C\n")
    assert changed[0] == base[0] and changed[1] != base[1]
    assert digests(b"id,name,team\n1,Ann,A\n2,Bob,B\n", "m2")[0] != base[0]  # the mapping
    assert digests(b"id,team,name\n1,Ann,A\n2,Bob,B\n")[0] != base[0]  # the header
    assert digests(b"id,name,team\n1,Ann,A,\n2,Bob,B\n")[0] != base[0]  # a trailing cell
    # Other bytes for the same cells are read again once, never taken for unchanged.
    assert digests(b"id,name,team\r\n1,Ann,A\r\n2,Bob,B\r\n")[0] != base[0]  # line ends
    assert digests(b'id,name,team\n"1",Ann,A\n')[0] != base[0]  # quoting
    # The same bytes read with another delimiter or encoding are other cells.
    semi = b"id;name\n1;Zo\xc3\xab\n"
    assert digests(semi) != digests(semi, delimiter=";")
    assert digests(semi, delimiter=";") != digests(semi, delimiter=";", encoding="latin-1")
    # A record over two lines is digested whole.
    two = digests(b'id,note\n1,"two\nlines"\n')
    assert two != digests(b'id,note\n1,"two\nlinez"\n')


def test_csv_data_is_built_only_when_asked_and_values_read_without_it(tmp_path):
    path = csv_file(tmp_path, b"id,name\n 7 ,Ann\n8\n")
    first, short = read({"type": "csv", "path": path, "key": "id"})
    assert first.value("id") == " 7 " and first.has_column("name")
    assert short.value("name") is None and not short.has_column("name")
    assert [k for k, _ in keyed([first, short], "id")] == ["7", "8"]
    assert short.data == {"id": "8"}


def test_csv_unterminated_quote_is_an_error_not_a_swallowed_file(tmp_path):
    path = csv_file(tmp_path, b'id,name\n1,"Doe\n2,Roe\n3,Poe\n')
    with pytest.raises(SourceError, match="line 2: malformed CSV"):
        read({"type": "csv", "path": path, "key": "id"})


def test_csv_missing_file(tmp_path):
    with pytest.raises(SourceError) as caught:
        read({"type": "csv", "path": str(tmp_path / "nope.csv"), "key": "id"})
    assert caught.value.source_name == "hr"
    assert "file not found" in caught.value.reason and "nope.csv" in caught.value.reason


def test_csv_duplicate_header_names(tmp_path):
    path = csv_file(tmp_path, b"id,email,name, email\n1,a@x,A,b@x\n")
    with pytest.raises(SourceError, match=r"repeats column name.*'email'"):
        read({"type": "csv", "path": path, "key": "id"})


def test_csv_empty_file_gives_no_record_for_the_empty_source_guard(tmp_path):
    assert read({"type": "csv", "path": csv_file(tmp_path, b""), "key": "id"}) == []


def test_csv_line_holding_a_nul_character_is_a_problem_of_its_record(tmp_path):
    path = csv_file(tmp_path, b"id,name\n1,Ann\n2,B\x00b\n3,Cy\n")
    first, broken, last = read({"type": "csv", "path": path, "key": "id"})
    assert first.problem is None and last.problem is None
    assert broken.problem == "line 3 holds a NUL character (a binary or corrupted export?)"


def test_csv_value_under_a_nameless_column_is_a_problem(tmp_path):
    path = csv_file(tmp_path, b"id,,name\n1,,Ann\n2,oops,Bob\n")
    fine, odd = read({"type": "csv", "path": path, "key": "id"})
    assert fine.problem is None and fine.data == {"id": "1", "name": "Ann"}
    assert odd.problem is not None and "column(s) 2" in odd.problem


def test_keyed_strips_and_reports_missing_keys():
    records = [
        SourceRecord("line 2", {"id": " E1 "}),
        SourceRecord("line 3", {"id": ""}),
        SourceRecord("line 4", {"name": "no id"}),
        SourceRecord("row 1", {"id": 1042}),
        SourceRecord("row 2", {"id": 7.0}),
    ]
    assert [key for key, _ in keyed(records, "id")] == ["E1", None, None, "1042", "7"]


# -- SQL ------------------------------------------------------------------------------------


def test_sql_streams_rows_in_chunks(db_url):
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "create table employees (emp_no integer primary key, name varchar(50), "
                "salary numeric(10,2), hired date, email varchar(80))"
            )
        )
        conn.execute(
            text("insert into employees values (:n, :name, :salary, :hired, :email)"),
            [
                {
                    "n": n,
                    "name": f"Person {n}",
                    "salary": str(Decimal("1234.50") + n),
                    "hired": date(2020, 1, n),
                    "email": None if n == 3 else f"p{n}@x.org",
                }
                for n in range(1, 12)
            ],
        )
    engine.dispose()
    config = {
        "type": "sql",
        "url": db_url,
        "query": "select emp_no, name, salary, hired, email from employees order by emp_no",
        "key": "emp_no",
        "chunk_size": 3,
    }
    records = read(config)
    assert len(records) == 11
    assert [r.position for r in records][:2] == ["row 1", "row 2"]
    # PostgreSQL answers Decimal (given as exact text) and date; SQLite has neither type.
    on_sqlite = db_url.startswith("sqlite")
    salary = 1235.5 if on_sqlite else "1235.50"
    hired = "2020-01-01" if on_sqlite else date(2020, 1, 1)
    assert records[0].data == {
        "emp_no": 1,
        "name": "Person 1",
        "salary": salary,
        "hired": hired,
        "email": "p1@x.org",
    }
    assert records[2].data["email"] is None
    assert [key for key, _ in keyed(records, "emp_no")] == [str(n) for n in range(1, 12)]


def touch_database(db_url: str) -> None:
    """Make the database exist (the SQLite fixture names a file not yet created)."""
    engine = create_engine(db_url)
    with engine.connect():
        pass
    engine.dispose()


def test_sql_error_is_a_source_error(db_url):
    touch_database(db_url)
    config = {"type": "sql", "url": db_url, "query": "select * from no_such_table", "key": "id"}
    with pytest.raises(SourceError, match="query failed"):
        read(config)


def test_sql_repeated_column_names_are_refused(db_url):
    touch_database(db_url)
    config = {"type": "sql", "url": db_url, "query": "select 1 as id, 2 as id", "key": "id"}
    with pytest.raises(SourceError, match="more than once"):
        read(config)


def test_sql_missing_sqlite_file_is_reported_not_created(tmp_path):
    missing = tmp_path / "hr.db"
    with pytest.raises(SourceError, match="database file not found"):
        read({"type": "sql", "url": f"sqlite:///{missing}", "query": "select 1", "key": "id"})
    assert not missing.exists()


def test_sql_unreachable_database_hides_the_password():
    url = "postgresql+psycopg://hr:pg-Secret-991@127.0.0.1:1/hr?connect_timeout=2"
    with pytest.raises(SourceError) as caught:
        read({"type": "sql", "url": url, "query": "select 1", "key": "id"})
    assert "pg-Secret-991" not in str(caught.value)


def test_sql_plain_values():
    assert plain_value(Decimal("1E+3")) == "1000"
    assert plain_value(memoryview(b"abc")) == "abc"
    assert plain_value(b"\xff\x00") == "ff00"


# -- HTTP -----------------------------------------------------------------------------------


def people(*ids: int) -> list[dict[str, Any]]:
    return [{"id": f"E{n}", "name": f"Person {n}"} for n in ids]


def ids(records: list[SourceRecord]) -> list[str]:
    return [r.data["id"] for r in records]


def test_http_single_page_top_level_list():
    with LoopbackServer(lambda r: Reply(200, people(1, 2))) as server:
        records = read({"type": "http", "url": server.url + "/people", "key": "id"})
    assert ids(records) == ["E1", "E2"]
    assert records[1].position == "page 1, item 2"
    assert server.requests[0].headers["accept"] == "application/json"


def test_http_next_link_pagination_with_bearer_token():
    pages = {
        "/people": {"data": people(1, 2), "links": {"next": "/people?page=2"}},
        "/people?page=2": {"data": people(3), "links": {"next": "PLACEHOLDER"}},
        "/people?page=3": {"data": people(4), "links": {"next": None}},
    }

    def answer(request: Received) -> Reply:
        return Reply(200, pages[request.target])

    with LoopbackServer(answer) as server:
        pages["/people?page=2"]["links"]["next"] = server.url + "/people?page=3"  # absolute
        config = {
            "type": "http",
            "url": server.url + "/people",
            "key": "id",
            "records": "$.data[*]",
            "auth": {"type": "bearer", "token": "hr-token-123"},
            "paginate": {"type": "next_link", "path": "$.links.next"},
        }
        records = read(config)
    assert ids(records) == ["E1", "E2", "E3", "E4"]
    assert records[2].position == "page 2, item 1"
    assert {r.headers["authorization"] for r in server.requests} == {"Bearer hr-token-123"}


def test_http_next_link_equal_to_current_page_stops():
    with LoopbackServer(lambda r: Reply(200, {"data": people(1), "next": r.target})) as server:
        config = {
            "type": "http",
            "url": server.url + "/people",
            "key": "id",
            "records": "$.data[*]",
            "paginate": {"type": "next_link", "path": "$.next"},
        }
        assert ids(read(config)) == ["E1"]
    assert len(server.requests) == 1


@pytest.mark.parametrize("length", [2, 3, 7])
def test_http_next_link_loop_of_any_length_is_an_error(length):
    after = {f"/p{n}": f"/p{(n + 1) % length}" for n in range(length)}  # back to /p0
    with LoopbackServer(lambda r: Reply(200, {"data": people(1), "next": after[r.path]})) as s:
        config = {
            "type": "http",
            "url": s.url + "/p0",
            "key": "id",
            "records": "$.data[*]",
            "paginate": {"type": "next_link", "path": "$.next"},
        }
        with pytest.raises(SourceError, match="pagination loop"):
            read(config)
    assert len(s.requests) == length  # each page read once, then the loop is seen


def test_http_page_number_pagination_with_basic_auth():
    everyone = people(1, 2, 3, 4, 5)

    def answer(request: Received) -> Reply:
        page, size = int(request.query["page"]), int(request.query["per_page"])
        return Reply(200, {"items": everyone[(page - 1) * size : page * size]})

    with LoopbackServer(answer) as server:
        config = {
            "type": "http",
            "url": server.url + "/people?active=1",
            "key": "id",
            "records": "$.items[*]",
            "auth": {"type": "basic", "username": "sync", "password": "pa:ss"},
            "paginate": {"type": "page", "size": 2},
        }
        records = read(config)
    assert ids(records) == ["E1", "E2", "E3", "E4", "E5"]
    assert len(server.requests) == 3  # the short third page ends it
    assert server.requests[0].query == {"active": "1", "page": "1", "per_page": "2"}
    expected = "Basic " + base64.b64encode(b"sync:pa:ss").decode()
    assert {r.headers["authorization"] for r in server.requests} == {expected}


def test_http_page_number_stops_on_empty_page_when_size_is_unknown():
    everyone = people(1, 2, 3)

    def answer(request: Received) -> Reply:
        page = int(request.query["p"])
        return Reply(200, everyone[(page - 1) * 2 : page * 2])

    with LoopbackServer(answer) as server:
        config = {
            "type": "http",
            "url": server.url + "/people",
            "key": "id",
            "paginate": {"type": "page", "param": "p", "size_param": None, "size": 2},
        }
        assert ids(read(config)) == ["E1", "E2", "E3"]
    assert [r.query["p"] for r in server.requests] == ["1", "2", "3"]


def test_http_page_parameter_ignored_by_the_server_is_an_error():
    with LoopbackServer(lambda r: Reply(200, people(1, 2))) as server:
        config = {
            "type": "http",
            "url": server.url + "/people",
            "key": "id",
            "paginate": {"type": "page", "size": 2},
        }
        with pytest.raises(SourceError, match="page 2 repeats page 1"):
            read(config)


def oauth_server_handler(pages: dict[str | None, dict[str, Any]], expires_in: int = 3600):
    """Token endpoint at /token issuing tok-1, tok-2 ...; /people answers only the live token."""
    issued: list[str] = []

    def answer(request: Received) -> Reply:
        if request.path == "/token":
            issued.append(f"tok-{len(issued) + 1}")
            return Reply(200, {"access_token": issued[-1], "expires_in": expires_in})
        if not issued or request.headers.get("authorization") != f"Bearer {issued[-1]}":
            return Reply(401, {"error": "invalid_token"})
        return Reply(200, pages[request.query.get("cursor")])

    return answer, issued


def test_http_cursor_pagination_with_oauth2_client_credentials():
    pages = {
        None: {"results": people(1, 2), "meta": {"next_cursor": "c2"}},
        "c2": {"results": people(3), "meta": {"next_cursor": 17}},
        "17": {"results": people(4), "meta": {"next_cursor": ""}},
    }
    answer, issued = oauth_server_handler(pages)
    with LoopbackServer(answer) as server:
        config = {
            "type": "http",
            "url": server.url + "/people",
            "key": "id",
            "records": "$.results[*]",
            "auth": {
                "type": "oauth2",
                "token_url": server.url + "/token",
                "client_id": "syncd",
                "client_secret": "cs-very-secret",
                "scope": "people.read",
            },
            "paginate": {"type": "cursor", "path": "$.meta.next_cursor"},
        }
        records = read(config)
    assert ids(records) == ["E1", "E2", "E3", "E4"]
    assert issued == ["tok-1"]  # one token for every page
    token_request = server.requests[0]
    assert token_request.form == {"grant_type": "client_credentials", "scope": "people.read"}
    expected = "Basic " + base64.b64encode(b"syncd:cs-very-secret").decode()
    assert token_request.headers["authorization"] == expected
    assert [r.query.get("cursor") for r in server.requests[1:]] == [None, "c2", "17"]


def test_http_cursor_loop_is_an_error():
    with LoopbackServer(lambda r: Reply(200, {"data": people(1), "cursor": "same"})) as server:
        config = {
            "type": "http",
            "url": server.url + "/people",
            "key": "id",
            "records": "$.data[*]",
            "paginate": {"type": "cursor", "path": "$.cursor"},
        }
        with pytest.raises(SourceError, match="pagination loop"):
            read(config)


def oauth_config(server: LoopbackServer, **extra: Any) -> dict[str, Any]:
    return {
        "type": "http",
        "url": server.url + "/people",
        "key": "id",
        "records": "$.results[*]",
        "auth": {
            "type": "oauth2",
            "token_url": server.url + "/token",
            "client_id": "syncd",
            "client_secret": "cs-very-secret",
            **extra,
        },
    }


def test_http_oauth2_token_is_renewed_before_it_expires():
    answer, issued = oauth_server_handler({None: {"results": people(1)}}, expires_in=100)
    now = [1000.0]
    with LoopbackServer(answer) as server:
        config = TypeAdapter(SourceConfig).validate_python(oauth_config(server))
        auth = ClientCredentialsAuth(
            server.url + "/token", "syncd", "cs-very-secret", clock=lambda: now[0]
        )
        hr = HttpSource("hr", config, retry=FAST, auth=auth)
        list(hr.records())
        now[0] += 80  # still fresh: renewal is due 10 s before expiry
        list(hr.records())
        assert issued == ["tok-1"]
        now[0] += 15  # 95 s after issue: renewed without waiting for a 401
        list(hr.records())
    assert issued == ["tok-1", "tok-2"]
    reads = [r for r in server.requests if r.path == "/people"]
    assert len(reads) == 3  # no read was refused: the renewal came before any 401
    assert reads[-1].headers["authorization"] == "Bearer tok-2"


def test_http_oauth2_token_is_renewed_once_on_401():
    state = {"revoked": "tok-1"}
    issued: list[str] = []

    def answer(request: Received) -> Reply:
        if request.path == "/token":
            issued.append(f"tok-{len(issued) + 1}")
            return Reply(200, {"access_token": issued[-1], "expires_in": 3600})
        if request.headers["authorization"] == f"Bearer {state['revoked']}":
            return Reply(401, {"error": "invalid_token"})
        return Reply(200, {"results": people(1)})

    with LoopbackServer(answer) as server:
        assert ids(read(oauth_config(server, client_auth="post"))) == ["E1"]
    assert issued == ["tok-1", "tok-2"]
    assert server.requests[0].form["client_secret"] == "cs-very-secret"  # client_auth: post
    assert "authorization" not in server.requests[0].headers


def test_http_oauth2_still_401_after_renewal_fails_without_looping():
    answer, issued = oauth_server_handler({})

    def always_401(request: Received) -> Reply:
        return answer(request) if request.path == "/token" else Reply(401, {"error": "nope"})

    with (
        LoopbackServer(always_401) as server,
        pytest.raises(SourceError, match="answered 401") as caught,
    ):
        read(oauth_config(server))
    assert issued == ["tok-1", "tok-2"]
    assert "tok-2" not in str(caught.value)


def test_http_oauth2_refused_credentials_never_show_the_secret():
    def answer(request: Received) -> Reply:
        return Reply(
            401,
            {"error": "invalid_client", "error_description": "bad secret cs-very-secret"},
        )

    with LoopbackServer(answer) as server, pytest.raises(SourceError) as caught:
        read(oauth_config(server))
    message = str(caught.value)
    assert "authentication failed: token endpoint answered 401: invalid_client" in message
    assert "cs-very-secret" not in message
    assert len(server.requests) == 1  # refused credentials are not retried


def test_http_retries_server_errors_then_reads():
    answers = iter([Reply(500), Reply(503, headers={"Retry-After": "0"}), Reply(200, people(1))])
    with LoopbackServer(lambda r: next(answers)) as server:
        records = read({"type": "http", "url": server.url + "/people", "key": "id"})
    assert ids(records) == ["E1"]
    assert len(server.requests) == 3


def test_http_gives_up_after_bounded_retries():
    with (
        LoopbackServer(lambda r: Reply(502)) as server,
        pytest.raises(SourceError, match=r"answered 502 \(gave up after 4 attempts"),
    ):
        read({"type": "http", "url": server.url + "/people", "key": "id"})
    assert len(server.requests) == FAST.attempts


def test_http_retries_a_timeout():
    answers = iter([Reply(200, people(9), delay=1.0), Reply(200, people(1))])
    with LoopbackServer(lambda r: next(answers)) as server:
        config = {"type": "http", "url": server.url + "/people", "key": "id", "timeout": 0.2}
        assert ids(read(config)) == ["E1"]


def test_http_404_is_a_source_error_with_status_and_message():
    with (
        LoopbackServer(lambda r: Reply(404, {"message": "no such list"})) as server,
        pytest.raises(SourceError) as caught,
    ):
        read({"type": "http", "url": server.url + "/people", "key": "id"})
    assert "answered 404" in caught.value.reason and "no such list" in caught.value.reason
    assert len(server.requests) == 1


def test_http_error_message_masks_an_echoed_token():
    with LoopbackServer(lambda r: Reply(403, {"message": "token hr-tok-55 lacks scope"})) as s:
        config = {
            "type": "http",
            "url": s.url + "/people",
            "key": "id",
            "auth": {"type": "bearer", "token": "hr-tok-55"},
        }
        with pytest.raises(SourceError) as caught:
            read(config)
    assert "hr-tok-55" not in str(caught.value) and "lacks scope" in str(caught.value)


def test_http_dead_server_is_a_source_error():
    with pytest.raises(SourceError, match="could not connect"):
        read({"type": "http", "url": dead_url() + "/people", "key": "id"})


def test_http_records_path_not_found_is_a_source_error():
    with LoopbackServer(lambda r: Reply(200, {"people": []})) as server:
        config = {"type": "http", "url": server.url, "key": "id", "records": "$.data[*]"}
        with pytest.raises(SourceError, match=r"records path '\$\.data\[\*\]' finds nothing"):
            read(config)
        assert read({**config, "records": "$.people[*]"}) == []  # an empty list is fine


def test_http_non_object_item_is_a_problem_record():
    with LoopbackServer(lambda r: Reply(200, [{"id": "E1"}, "E2"])) as server:
        first, odd = read({"type": "http", "url": server.url, "key": "id"})
    assert first.problem is None
    assert odd.data == {} and odd.problem == "page 1, item 2 is a JSON str, not an object"


def test_http_credentials_over_plain_http_are_refused(tmp_path):
    from syncd.assemble import load_config
    from syncd.config import ConfigError
    from syncd.config.schema.sources import HttpSourceConfig

    config = {
        "type": "http",
        "url": "http://hr.example.com/people",
        "key": "id",
        "auth": {"type": "bearer", "token": "t0ken-value"},
    }
    path = tmp_path / "syncd.yaml"
    path.write_text(json.dumps({"sources": {"hr": config}, "connectors": []}))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "sources.hr" in str(caught.value) and "plain http to hr.example.com" in str(caught.value)
    assert "t0ken-value" not in str(caught.value)
    # Built past the configuration's check, the source still refuses at the door.
    unchecked = HttpSourceConfig.model_validate({**config, "url": "https://x.test/people"})
    unchecked = unchecked.model_copy(update={"url": config["url"]})
    with pytest.raises(SourceError, match="plain http"):
        open_source("hr", unchecked, retry=FAST)


def _linked(server_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "http",
        "url": server_url + "/people",
        "key": "id",
        "records": "$.data[*]",
        "auth": {"type": "bearer", "token": "hr-token-123"},
        "paginate": {"type": "next_link", "path": "$.next"},
        **extra,
    }


def test_a_next_link_to_another_host_is_refused_and_gets_no_credentials():
    def answer(request: Received) -> Reply:
        port = request.headers["host"].rsplit(":", 1)[1]
        if request.path == "/people":
            return Reply(200, {"data": people(1), "next": f"http://localhost:{port}/more"})
        return Reply(200, {"data": people(2)})

    with LoopbackServer(answer) as server:
        with pytest.raises(SourceError, match=r"another host, localhost, not 127\.0\.0\.1"):
            read(_linked(server.url))
        assert [r.path for r in server.requests] == ["/people"]
        assert ids(read(_linked(server.url, allowed_hosts=["localhost"]))) == ["E1", "E2"]
    tokens = {r.headers.get("authorization") for r in server.requests}
    assert tokens == {"Bearer hr-token-123"}


def test_a_source_that_never_stops_linking_is_stopped_at_max_pages():
    def answer(request: Received) -> Reply:
        number = int(request.query.get("n", "1"))
        return Reply(200, {"data": people(number), "next": f"/people?n={number + 1}"})

    with LoopbackServer(answer) as server, pytest.raises(SourceError, match="more than 5 pages"):
        read(_linked(server.url, max_pages=5))
    assert len(server.requests) == 6


def test_a_page_larger_than_max_page_bytes_is_refused():
    big = {"data": [{"id": f"E{i}", "pad": "x" * 1000} for i in range(2000)]}  # about 2 MB
    with (
        LoopbackServer(lambda r: Reply(200, big)) as server,
        pytest.raises(SourceError, match="larger than 1,000,000 bytes"),
    ):
        read(_linked(server.url, max_page_bytes=1_000_000))


def test_a_server_trickling_its_answer_is_stopped_at_the_deadline():
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def trickle() -> None:
        while not stop.is_set():
            try:
                listener.settimeout(0.2)
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.recv(65536)
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 100000\r\n\r\n["
                )
                try:
                    while not stop.is_set():
                        conn.sendall(b" ")  # one byte, well within the read timeout
                        time.sleep(0.1)
                except OSError:
                    pass

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    started = time.monotonic()
    try:
        with pytest.raises(SourceError, match=r"took longer than 0\.5s in all"):
            read(
                {"type": "http", "url": url + "/people", "key": "id", "timeout": 5, "deadline": 0.5}
            )
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
    assert time.monotonic() - started < 10  # four tries of half a second, not for ever


def test_a_server_trickling_its_status_line_and_headers_is_stopped_at_the_deadline():
    """Each byte of the head comes well within the read timeout; the whole call may not."""
    slow_head = Reply(200, {"data": [{"id": "E1"}]}, head_trickle=0.1)  # about 10 s a head
    with LoopbackServer(lambda r: slow_head) as server:
        started = time.monotonic()
        with pytest.raises(SourceError, match=r"took longer than 0\.5s in all") as raised:
            read(
                {
                    "type": "http",
                    "url": server.url + "/people",
                    "key": "id",
                    "records": "$.data[*]",
                    "timeout": 5,
                    "deadline": 0.5,
                }
            )
        took = time.monotonic() - started
    assert raised.value.source_name == "hr" and str(raised.value).startswith("source 'hr': ")
    assert took < 8, took  # four tries of half a second, not four slow heads


def test_invalid_jsonpath_is_a_configuration_error_naming_the_key(tmp_path):
    from syncd.assemble import load_config
    from syncd.config import ConfigError

    path = tmp_path / "syncd.yaml"
    path.write_text(
        "sources:\n"
        "  hr:\n"
        "    type: http\n"
        "    url: https://hr.example.com/people\n"
        "    key: id\n"
        "    records: '$.['\n"
        "    paginate: {type: cursor, path: '$..'}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    assert "sources.hr.records" in text and "invalid JSONPath '$.['" in text
    assert "sources.hr.paginate.path" in text and "invalid JSONPath '$..'" in text
    with pytest.raises(JsonPathSyntaxError):
        compile_path("$..")


def test_jsonpath_records_distinguish_empty_from_absent():
    assert compile_path("$.data[*]").records({"data": []}) == []
    assert compile_path("$.data[*]").records({}) is None
    assert compile_path("$.data").records({"data": [1, 2]}) == [1, 2]
    assert compile_path("$[*]").records([{"a": 1}]) == [{"a": 1}]
    assert compile_path("$.links.next").first({"links": {}}) is None
