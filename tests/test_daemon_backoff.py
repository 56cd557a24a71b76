"""A connector whose cycles keep failing is tried less and less often, up to an hour apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from syncd.daemon.backoff import Quarantine

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_failures_in_a_row_double_the_pause_up_to_an_hour():
    quarantine = Quarantine()
    pauses = []
    now = T0
    for _ in range(9):
        quarantine.record("lms", "push", failed=True, now=now)
        held = quarantine.waiting_until("lms", "push", now)
        pauses.append(held - now)
        now = held
    minutes = [p / timedelta(minutes=1) for p in pauses]
    assert minutes == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_one_success_ends_the_quarantine_and_directions_are_apart():
    quarantine = Quarantine()
    quarantine.record("lms", "push", failed=True, now=T0)
    quarantine.record("lms", "push", failed=True, now=T0)
    assert quarantine.waiting_until("lms", "push", T0) == T0 + timedelta(minutes=2)
    assert quarantine.waiting_until("lms", "pull", T0) is None
    assert quarantine.waiting_until("lms", "push", T0 + timedelta(minutes=2)) is None
    assert quarantine.record("lms", "push", failed=False, now=T0) == 0
    assert quarantine.waiting_until("lms", "push", T0) is None
    assert quarantine.record("lms", "push", failed=True, now=T0) == 1


def test_the_quarantine_keeps_the_last_reason_for_the_readiness_check():
    quarantine = Quarantine()
    quarantine.record("lms", "push", failed=True, now=T0, reason="HTTP 401: Invalid API key")
    quarantine.record("lms", "push", failed=True, now=T0, reason="HTTP 503")
    [(key, failures)] = quarantine.current().items()
    assert key == ("lms", "push") and (failures.count, failures.reason) == (2, "HTTP 503")
    assert failures.not_before == T0 + timedelta(minutes=2)
    quarantine.record("lms", "push", failed=False, now=T0)
    assert quarantine.current() == {}
