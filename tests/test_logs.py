"""Secrets never reach log output, whatever path they take."""

from __future__ import annotations

import io
import json
import logging
from datetime import date, datetime, timedelta, timezone

import structlog

from syncd.logs import MASK, Redactor, configure, log_context, shifted_level
from syncd.state.migrate import head_revision, upgrade

SECRET = "s3cr3t-api-key-98765"


def _capture(fmt: str = "json", secrets=(SECRET,)) -> io.StringIO:
    stream = io.StringIO()
    configure(fmt=fmt, level="debug", secrets=secrets, stream=stream)
    return stream


def test_configured_secret_is_masked_in_messages_fields_and_nested_values():
    stream = _capture()
    log = structlog.get_logger("t")
    log.info("calling vendor", url=f"https://x.example/api?key={SECRET}", detail={"deep": [SECRET]})
    log.error("failed", error=RuntimeError(f"vendor said: bad key {SECRET}"))
    output = stream.getvalue()
    assert SECRET not in output
    assert output.count(MASK) >= 3
    assert all(json.loads(line) for line in output.splitlines())


def test_sensitive_header_names_are_masked_even_when_not_configured():
    stream = _capture(secrets=())
    structlog.get_logger("t").info(
        "request",
        headers={
            "Authorization": "Bearer abc.def.ghi",
            "X-API-Key": "k-123456",
            "TransactionKey": "tx-999999",
            "APILoginID": "login-777777",
            "Accept": "application/json",
        },
    )
    record = json.loads(stream.getvalue())
    assert record["headers"] == {
        "Authorization": MASK,
        "X-API-Key": MASK,
        "TransactionKey": MASK,
        "APILoginID": MASK,
        "Accept": "application/json",
    }


def test_tokens_inside_free_text_are_masked():
    redactor = Redactor()
    text = redactor.redact_text(
        "got 401 with Authorization: Bearer eyJhbGciOi.payload.sig and access_token=abcd1234"
        " from postgresql://svc:hunter22@db/x"
    )
    assert "eyJhbGciOi" not in text and "abcd1234" not in text and "hunter22" not in text
    assert "postgresql://svc:" in text


def test_standard_library_loggers_are_redacted_too():
    stream = _capture()
    logging.getLogger("uvicorn.error").warning("bad request with key %s", SECRET)
    assert SECRET not in stream.getvalue()
    assert "bad request with key" in stream.getvalue()


def test_console_format_is_readable_and_redacted():
    stream = _capture(fmt="console")
    structlog.get_logger("t").info("hello", token=SECRET)
    output = stream.getvalue()
    assert "hello" in output and SECRET not in output and not output.startswith("{")


PRINTABLE = "".join(chr(c) for c in range(33, 127))  # every printable ASCII character


def test_a_quoted_credential_is_masked_whole_whatever_it_holds():
    redactor = Redactor()
    for name in ("password", "client_secret", "token"):
        echoed = json.dumps({"login": "ann", name: PRINTABLE, "email": "ann@acme.test"})
        masked = redactor.redact_text(f"400 Bad Request: {echoed}")
        assert json.loads(masked.split(": ", 1)[1]) == {
            "login": "ann",
            name: MASK,
            "email": "ann@acme.test",
        }
    single = redactor.redact_text("password: 'a b&c,d;e}f'")
    assert single == f"password: '{MASK}'"
    assert redactor.redact_text("password=abc&next=1") == f"password={MASK}&next=1"


def test_a_registered_secret_is_masked_whole_whatever_characters_it_holds():
    redactor = Redactor([PRINTABLE])
    text = redactor.redact_text(f"echo: {PRINTABLE} end")
    assert text == f"echo: {MASK} end"


def test_a_cycles_context_is_on_each_of_its_lines_and_gone_after_it():
    stream = _capture()
    log = structlog.get_logger("t")
    with log_context(connector="lms", run_id=7):
        log.info("inside", hr_key="E1")
        with log_context(run_id=8):
            log.info("nested")
        log.info("back")
    log.info("outside")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(e["event"], e.get("connector"), e.get("run_id")) for e in lines] == [
        ("inside", "lms", 7),
        ("nested", "lms", 8),
        ("back", "lms", 7),
        ("outside", None, None),
    ]


def test_times_are_iso_8601_in_utc_whatever_zone_they_come_in():
    stream = _capture()
    paris = timezone(timedelta(hours=1))
    structlog.get_logger("t").info(
        "times",
        aware=datetime(2026, 5, 1, 11, 0, tzinfo=paris),
        naive=datetime(2026, 5, 1, 9, 30),
        day=date(2026, 5, 1),
    )
    event = json.loads(stream.getvalue())
    assert (event["aware"], event["naive"], event["day"]) == (
        "2026-05-01T10:00:00Z",
        "2026-05-01T09:30:00Z",
        "2026-05-01",
    )
    assert event["timestamp"].endswith("Z")


def test_migrating_a_store_says_so_once_without_alembics_chatter(tmp_path):
    stream = io.StringIO()
    configure(fmt="json", level="info", stream=stream)
    upgrade(f"sqlite:///{tmp_path / 'state.db'}")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [e["event"] for e in lines] == ["store_migrated"]
    assert lines[0]["from_revision"] is None and lines[0]["to_revision"] == head_revision()


def test_quiet_and_verbose_steps_stay_within_the_levels():
    assert shifted_level("info", -1) == "debug" and shifted_level("info", -5) == "debug"
    assert shifted_level("info", 1) == "warning" and shifted_level("warning", 9) == "critical"
