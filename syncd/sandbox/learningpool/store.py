"""One Learning Pool platform's data for the sandbox Simple API: users (deactivated by
an expiry date, as Learning Pool recommends), groups keyed by an External Ref,
learning experiences (courses) with an External ID, and enrolments whose completion
changes are what ``completions`` returns."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from syncd.sandbox.clock import iso_z, parse_iso

NOT_STARTED, IN_PROGRESS, COMPLETED = "not_started", "in_progress", "completed"
ENROLMENT_STATUSES = (NOT_STARTED, IN_PROGRESS, COMPLETED)


class SeedError(ValueError):
    """A seed document the store cannot load; the message names the entry."""


def iso(ts: float | None) -> str | None:
    return iso_z(ts) if ts is not None else None


def parse_ts(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        return parse_iso(str(value))
    except ValueError:
        raise SeedError(f"not an ISO-8601 timestamp: {value!r}") from None


@dataclass(slots=True)
class LPUser:
    id: int
    username: str
    email: str
    first_name: str
    last_name: str
    created_at: float
    updated_at: float
    external_id: str | None = None
    language: str = "en"
    timezone: str = "Europe/London"
    country: str | None = None
    function: str | None = None
    organisation_reference: str | None = None
    expires_at: float | None = None

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now


@dataclass(slots=True)
class LPGroup:
    id: int
    name: str
    created_at: float
    external_ref: str | None = None
    description: str = ""
    members: dict[int, float] = field(default_factory=dict)  # user id -> added at


@dataclass(slots=True)
class LPCourse:
    id: int
    title: str
    external_id: str | None = None


@dataclass(slots=True)
class Enrolment:
    id: int
    user_id: int
    course_id: int
    enrolled_at: float
    updated_at: float
    due_at: float | None = None
    status: str = NOT_STARTED
    progress: int = 0
    completed_at: float | None = None
    score: int | None = None


class Store:
    """Everything one platform holds. Not thread-safe: used under the simulator lock."""

    def __init__(self) -> None:
        self.users: dict[int, LPUser] = {}
        self.groups: dict[int, LPGroup] = {}
        self.courses: dict[int, LPCourse] = {}
        self.enrolments: dict[tuple[int, int], Enrolment] = {}
        self._next: dict[str, int] = {}

    def next_id(self, kind: str, taken: Iterable[int], start: int) -> int:
        candidate = max([self._next.get(kind, start), *(i + 1 for i in taken)])
        self._next[kind] = candidate + 1
        return candidate

    # ----- lookups ------------------------------------------------------------------------

    def user(self, raw: Any) -> LPUser | None:
        text = str(raw).strip() if isinstance(raw, int | str) and not isinstance(raw, bool) else ""
        return self.users.get(int(text)) if text.isdigit() else None

    def user_by_external(self, external_id: str) -> LPUser | None:
        return next((u for u in self.users.values() if u.external_id == external_id), None)

    def user_by_username(self, username: str) -> LPUser | None:
        wanted = username.strip().casefold()
        return next((u for u in self.users.values() if u.username.casefold() == wanted), None)

    def group(self, raw: str) -> LPGroup | None:
        """A group by numeric id or by External Ref."""
        if raw.isdigit() and int(raw) in self.groups:
            return self.groups[int(raw)]
        return next((g for g in self.groups.values() if g.external_ref == raw), None)

    def course(self, raw: Any) -> LPCourse | None:
        """A learning experience by numeric id or by External ID."""
        text = str(raw).strip() if isinstance(raw, int | str) and not isinstance(raw, bool) else ""
        if text.isdigit() and int(text) in self.courses:
            return self.courses[int(text)]
        return next((c for c in self.courses.values() if c.external_id == text), None)

    # ----- learning -----------------------------------------------------------------------

    def enrol(self, user: LPUser, course: LPCourse, now: float) -> tuple[Enrolment, bool]:
        """The user's enrolment on the course and whether it is new."""
        existing = self.enrolments.get((user.id, course.id))
        if existing is not None:
            return existing, False
        enrolment_id = self.next_id("enrolment", (e.id for e in self.enrolments.values()), 70001)
        enrolment = Enrolment(enrolment_id, user.id, course.id, now, now)
        self.enrolments[(user.id, course.id)] = enrolment
        return enrolment, True

    def set_progress(
        self,
        enrolment: Enrolment,
        progress: int,
        now: float,
        *,
        score: int | None = None,
        completed_at: float | None = None,
    ) -> Enrolment:
        """Progress 100 completes the enrolment; anything changed moves ``updated_at``."""
        enrolment.progress = max(0, min(100, progress))
        if enrolment.progress == 100:
            enrolment.status = COMPLETED
            enrolment.completed_at = completed_at or now
            enrolment.score = score
        else:
            enrolment.status = IN_PROGRESS if enrolment.progress else NOT_STARTED
            enrolment.completed_at = None
            enrolment.score = None
        enrolment.updated_at = now
        return enrolment

    # ----- seeds --------------------------------------------------------------------------

    def load(self, data: Mapping[str, Any], now: float) -> dict[str, Any]:
        loaded: dict[str, Any] = {}
        loaded["courses"] = [self._load_course(e).id for e in data.get("courses", [])]
        loaded["users"] = [self._load_user(e, now).id for e in data.get("users", [])]
        loaded["groups"] = [self._load_group(e, now).id for e in data.get("groups", [])]
        for entry in data.get("enrolments", []):
            user, course = self.user(entry.get("user_id")), self.course(entry.get("course_id"))
            if user is None or course is None:
                raise SeedError(f"enrolment {dict(entry)!r}: unknown user_id or course_id")
            enrolled_at = parse_ts(entry.get("enrolled_at")) or now
            enrolment, _ = self.enrol(user, course, enrolled_at)
            enrolment.due_at = parse_ts(entry.get("due_at"))
            score = entry.get("score")
            self.set_progress(
                enrolment,
                int(entry.get("progress", 0)),
                parse_ts(entry.get("updated_at")) or now,
                score=int(score) if score is not None else None,
                completed_at=parse_ts(entry.get("completed_at")),
            )
        loaded["enrolments"] = len(data.get("enrolments", []))
        return {k: v for k, v in loaded.items() if v}

    def _load_course(self, entry: Mapping[str, Any]) -> LPCourse:
        course_id = int(entry.get("id") or self.next_id("course", self.courses, 501))
        course = LPCourse(course_id, str(entry["title"]), entry.get("external_id"))
        self.courses[course_id] = course
        return course

    def _load_user(self, entry: Mapping[str, Any], now: float) -> LPUser:
        user_id = int(entry.get("id") or self.next_id("user", self.users, 10001))
        username = str(entry["username"])
        if self.user_by_username(username) is not None:
            raise SeedError(f"user {username!r}: the username is taken")
        user = LPUser(
            id=user_id,
            username=username,
            email=str(entry["email"]),
            first_name=str(entry.get("first_name", "")),
            last_name=str(entry.get("last_name", "")),
            created_at=parse_ts(entry.get("created_at")) or now,
            updated_at=now,
            external_id=entry.get("external_id"),
            language=str(entry.get("language", "en")),
            timezone=str(entry.get("timezone", "Europe/London")),
            country=entry.get("country"),
            function=entry.get("function"),
            organisation_reference=entry.get("organisation_reference"),
            expires_at=parse_ts(entry.get("expires_at")),
        )
        self.users[user_id] = user
        return user

    def _load_group(self, entry: Mapping[str, Any], now: float) -> LPGroup:
        group_id = int(entry.get("id") or self.next_id("group", self.groups, 201))
        group = LPGroup(
            group_id,
            str(entry["name"]),
            now,
            entry.get("external_ref"),
            str(entry.get("description", "")),
        )
        for ref in entry.get("members", []):
            user = self.user(ref)
            if user is None:
                raise SeedError(f"group {group.name!r}: no user {ref!r}")
            group.members[user.id] = now
        self.groups[group_id] = group
        return group

    # ----- dump ---------------------------------------------------------------------------

    def dump(self, now: float) -> dict[str, Any]:
        return {
            "users": [
                {
                    "id": u.id,
                    "external_id": u.external_id,
                    "username": u.username,
                    "email": u.email,
                    "first_name": u.first_name,
                    "last_name": u.last_name,
                    "expires_at": iso(u.expires_at),
                    "status": "expired" if u.expired(now) else "active",
                }
                for u in sorted(self.users.values(), key=lambda u: u.id)
            ],
            "groups": [
                {
                    "id": g.id,
                    "name": g.name,
                    "external_ref": g.external_ref,
                    "members": sorted(g.members),
                }
                for g in sorted(self.groups.values(), key=lambda g: g.id)
            ],
            "courses": [
                {"id": c.id, "external_id": c.external_id, "title": c.title}
                for c in sorted(self.courses.values(), key=lambda c: c.id)
            ],
            "enrolments": [
                {
                    "id": e.id,
                    "user_id": e.user_id,
                    "course_id": e.course_id,
                    "status": e.status,
                    "progress": e.progress,
                    "score": e.score,
                    "completed_at": iso(e.completed_at),
                }
                for e in sorted(self.enrolments.values(), key=lambda e: e.id)
            ],
        }
