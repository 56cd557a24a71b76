"""Learning results from TalentLMS: the timeline says who changed, course-progress says what.

The timeline is the only change feed v2 has (digest §9.4, §9.6). Its ids are not
a safe cursor ("1095" vs "tcc_7"), rows can be aggregated and reappear with a
later time, and the order is by time, not id. So the cursor is a *time* taken
from the vendor's own events (never this machine's clock), each pull re-reads an
overlap window before it, and events are de-duplicated on (event type, user,
course, time), the keys of the overlap window travelling in the cursor.

Every (user, course) that had an event is confirmed with one
``GET /course-progress``: its status, score, completion date and certificate are
authoritative, the event is only the hint. Results are yielded oldest first in
pages of 100 pairs, each with the cursor that is safe to save once the sink has
accepted it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import structlog

from syncd.http import VendorClient
from syncd.model import LearningResult, ResultStatus
from syncd.vendors.base import PullPage
from syncd.vendors.pulling import overlap_option, parse_time, start_option
from syncd.vendors.talentlms.api import COURSE_PROGRESS, TIMELINE, VENDOR, data_of, iter_pages
from syncd.vendors.talentlms.fields import as_number

log = structlog.get_logger(__name__)

EVENT_TYPES = ("course_completion", "course_user_progress_reset")
DEFAULT_BACKFILL = timedelta(days=30)
PAIRS_PER_PAGE = 100
CURSOR_VERSION = 1

STATUSES = {
    "completed": ResultStatus.COMPLETED,
    "complete": ResultStatus.COMPLETED,
    "passed": ResultStatus.PASSED,
    "failed": ResultStatus.FAILED,
    "not_attempted": ResultStatus.NOT_STARTED,
    "not_started": ResultStatus.NOT_STARTED,
    "not started": ResultStatus.NOT_STARTED,
    "incomplete": ResultStatus.IN_PROGRESS,
    "in_progress": ResultStatus.IN_PROGRESS,
    "in progress": ResultStatus.IN_PROGRESS,
}
"""v2 shows "completed"; the sandbox adds "not_attempted"/"incomplete"; v1 used the rest."""


def result_status(value: Any) -> ResultStatus | None:
    """The SPEC status of a TalentLMS completion status; None (unknown) when unrecognised."""
    if not isinstance(value, str):
        return None
    return STATUSES.get(value.strip().lower())


def iso(moment: datetime) -> str:
    """``2026-01-01T00:00:00+00:00``: the form the timeline filter was shown with."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def certificate_fields(certificate: Any) -> tuple[str | None, datetime | None]:
    """(url, expiry) of a certificate whose shape the documents leave open; unknown stays None."""
    if isinstance(certificate, str) and certificate.startswith(("https://", "http://")):
        return certificate, None
    if not isinstance(certificate, Mapping):
        return None, None
    url = None
    for key in ("url", "download_url", "public_url"):
        if isinstance(certificate.get(key), str) and certificate[key].strip():
            url = certificate[key].strip()
            break
    expires = None
    for key in ("expires_at", "expiration_date", "expiry_date"):
        expires = parse_time(certificate.get(key))
        if expires is not None:
            break
    return url, expires


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    user_id: str
    course_id: str
    created_at: datetime
    course_name: str | None

    @property
    def key(self) -> str:
        return f"{self.type}|{self.user_id}|{self.course_id}|{iso(self.created_at)}"


def _key_time(key: str) -> datetime | None:
    return parse_time(key.rsplit("|", 1)[-1])


def parse_event(item: Mapping[str, Any]) -> Event | None:
    extra = item.get("extra") if isinstance(item.get("extra"), Mapping) else {}
    course = extra.get("course") if isinstance(extra.get("course"), Mapping) else {}
    user = extra.get("user") if isinstance(extra.get("user"), Mapping) else {}
    user_id = item.get("user_id", user.get("id"))
    course_id = course.get("id")
    created = parse_time(item.get("created_at"))
    if user_id is None or course_id is None or created is None:
        return None
    name = course.get("name")
    return Event(
        type=str(item.get("event_type") or ""),
        user_id=str(user_id),
        course_id=str(course_id),
        created_at=created,
        course_name=name if isinstance(name, str) else None,
    )


class TimelinePull:
    """One adapter's pull; ``pages`` is ``Adapter.pull``."""

    def __init__(
        self,
        client: VendorClient,
        *,
        start: Any = None,
        overlap: Any = None,
        event_types: Sequence[str] = EVENT_TYPES,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._now = now
        self._start = start_option(start)
        self._overlap = overlap_option(overlap)
        self._event_types = tuple(event_types)

    def pages(self, cursor: Mapping[str, Any] | None) -> Iterator[PullPage]:
        since = parse_time((cursor or {}).get("since"))
        seen = {str(k) for k in (cursor or {}).get("seen", []) if isinstance(k, str)}
        window_from = (
            since - self._overlap
            if since is not None
            else (self._start or self._now() - DEFAULT_BACKFILL)
        )
        events = self._read(window_from)
        fresh = [e for e in events if e.key not in seen]
        log.info(
            "talentlms_timeline_read",
            since=iso(window_from),
            events=len(events),
            new=len(fresh),
        )
        latest = since or window_from
        if not fresh:
            for event in events:
                latest = max(latest, event.created_at)
            yield PullPage([], self._cursor(latest, seen))
            return
        pairs: dict[tuple[str, str], Event] = {}
        for event in sorted(fresh, key=lambda e: e.created_at):
            pairs[(event.user_id, event.course_id)] = event  # the latest event of each pair
        ordered_pairs = sorted(pairs.values(), key=lambda e: e.created_at)
        keys_by_pair: dict[tuple[str, str], list[str]] = {}
        for event in fresh:
            keys_by_pair.setdefault((event.user_id, event.course_id), []).append(event.key)
        for start in range(0, len(ordered_pairs), PAIRS_PER_PAGE):
            chunk = ordered_pairs[start : start + PAIRS_PER_PAGE]
            results = []
            for event in chunk:
                result = self._confirm(event)
                if result is not None:
                    results.append(result)
                seen.update(keys_by_pair[(event.user_id, event.course_id)])
                latest = max(latest, event.created_at)
            yield PullPage(results, self._cursor(latest, seen))

    def _cursor(self, since: datetime, seen: set[str]) -> dict[str, Any]:
        """The saved position; keys older than the next overlap window are never read again."""
        floor = since - self._overlap
        kept = sorted(k for k in seen if (_key_time(k) or floor) >= floor)
        seen.intersection_update(kept)
        return {"version": CURSOR_VERSION, "since": iso(since), "seen": kept}

    def _read(self, window_from: datetime) -> list[Event]:
        """Every event of the configured types since ``window_from``, checked client-side."""
        found: dict[str, Event] = {}
        for event_type in self._event_types:
            params = {
                "filter[event_type][eq]": event_type,
                "filter[created_from][gte]": iso(window_from),
            }
            for page in iter_pages(self._client, TIMELINE, params=params):
                for item in page.items:
                    event = parse_event(item)
                    # Filters may be ignored silently (digest §4.2): re-check both.
                    if event is None or event.type != event_type:
                        continue
                    if event.created_at < window_from:
                        continue
                    found[event.key] = event
        return list(found.values())

    def _confirm(self, event: Event) -> LearningResult | None:
        """The authoritative state of one (user, course) from ``/course-progress``."""
        response = self._client.get(
            COURSE_PROGRESS,
            params={"user_id": event.user_id, "course_id": event.course_id},
            accept={400, 404},
        )
        if response.status_code in (400, 404):
            log.warning(
                "talentlms_progress_unavailable",
                lms_user_id=event.user_id,
                course_id=event.course_id,
                status=response.status_code,
            )
            return None
        data = data_of(response, "GET /course-progress")
        data = data if isinstance(data, Mapping) else {}
        progress = data.get("progress") if isinstance(data.get("progress"), Mapping) else {}
        raw_status = progress.get("completion_status")
        status = result_status(raw_status)
        if status is None:
            log.warning(
                "talentlms_status_unknown",
                status=str(raw_status)[:40],
                lms_user_id=event.user_id,
                course_id=event.course_id,
            )
        url, expires = certificate_fields(progress.get("certificate"))
        name = data.get("name") if isinstance(data.get("name"), str) else event.course_name
        percentage = as_number(progress.get("completion_percentage"))
        score = as_number(progress.get("score"))
        return LearningResult(
            vendor=VENDOR,
            lms_user_id=event.user_id,
            course_id=event.course_id,
            status=cast(ResultStatus, status),  # None: unknown, written empty
            course_name=name,
            progress=float(percentage) if percentage is not None else None,
            score=float(score) if score is not None else None,
            completed_at=parse_time(progress.get("completion_date")),
            certificate_url=url,
            certificate_expires_at=expires,
            updated_at=event.created_at,
            raw={"progress": dict(progress), "enrolled": data.get("enrolled")},
        )
