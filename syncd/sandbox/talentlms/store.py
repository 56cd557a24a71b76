"""TalentLMS portal state: users, user types and fields, courses, groups, branches,
enrollments, progress and the timeline, with seed loading and a JSON dump.

Passwords are never kept: the store only remembers that one was set.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from syncd.sandbox.clock import iso_offset, parse_iso

ACTIVE = "active"
INACTIVE = "inactive"

NOT_ATTEMPTED = "not_attempted"
INCOMPLETE = "incomplete"
COMPLETED = "completed"


@dataclass(slots=True)
class UserType:
    id: int
    name: str


@dataclass(slots=True)
class UserField:
    key: str  # "custom_field_N"
    name: str
    type: str = "text"
    mandatory: bool = False
    dropdown_values: list[dict[str, Any]] | None = None
    order: int = 0

    @property
    def number(self) -> int:
        return int(self.key.rsplit("_", 1)[-1])


@dataclass(slots=True)
class User:
    id: int
    login: str
    name: str
    surname: str
    email: str
    registration: float
    status: str = ACTIVE
    user_type_id: int = 4
    timezone: str = "UTC"
    locale: str = "en-US"
    email_notifications: bool = True
    description: str | None = None
    credits: float = 0
    deactivation_date: str | None = None
    last_login: float | None = None
    has_password: bool = False
    custom_fields: dict[str, str] = field(default_factory=dict)
    groups: set[int] = field(default_factory=set)
    branches: set[int] = field(default_factory=set)


@dataclass(slots=True)
class Course:
    id: int
    name: str
    created: float
    code: str | None = None
    status: str = ACTIVE
    description: str | None = None
    category: dict[str, Any] | None = None
    price: float = 0
    custom_fields: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Group:
    id: int
    name: str
    description: str | None = None
    key: str | None = None
    max_key_redemptions: int | None = None
    price: float | None = None
    branch_id: int | None = None
    courses: set[int] = field(default_factory=set)


@dataclass(slots=True)
class Branch:
    id: int
    name: str
    description: str | None = None
    active: bool = True
    default_locale: str = "en-US"
    courses: set[int] = field(default_factory=set)


@dataclass(slots=True)
class Enrollment:
    user_id: int
    course_id: int
    enrolled_at: float
    role: str = "learner"


@dataclass(slots=True)
class Progress:
    user_id: int
    course_id: int
    completion_status: str = NOT_ATTEMPTED
    completion_percentage: int = 0
    score: float | None = None
    completion_date: float | None = None
    total_time: int = 0
    certificate: Any = None
    last_viewed_unit_id: int | None = None


@dataclass(slots=True)
class Event:
    seq: int
    event_type: str
    user_id: int
    created_at: float
    extra: dict[str, Any]
    completion_seq: int | None = None  # for course_completion rows: the "tcc_N" number


DEFAULT_USER_TYPES = [
    UserType(1, "SuperAdmin"),
    UserType(2, "Admin-Type"),
    UserType(3, "Trainer-Type"),
    UserType(4, "Learner-Type"),
]


class SeedError(ValueError):
    """A seed document the store cannot load; the message names the entry."""


def _ts(value: Any, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, int | float):
        return float(value)
    try:
        return parse_iso(str(value))
    except ValueError:
        raise SeedError(f"not an ISO-8601 timestamp: {value!r}") from None


class Store:
    """Everything one TalentLMS portal holds. Not thread-safe: used under the simulator lock."""

    def __init__(self) -> None:
        self.user_types: dict[int, UserType] = {}
        self.user_fields: dict[str, UserField] = {}
        self.users: dict[int, User] = {}
        self.courses: dict[int, Course] = {}
        self.groups: dict[int, Group] = {}
        self.branches: dict[int, Branch] = {}
        self.enrollments: dict[tuple[int, int], Enrollment] = {}
        self.progress: dict[tuple[int, int], Progress] = {}
        self.events: list[Event] = []
        self._next: dict[str, int] = {}
        self._event_seq = 1000
        self._completion_seq = 0

    # ----- ids ------------------------------------------------------------------------

    def next_id(self, kind: str, taken: Iterable[int]) -> int:
        candidate = max([self._next.get(kind, 1), *(i + 1 for i in taken)])
        self._next[kind] = candidate + 1
        return candidate

    # ----- lookups --------------------------------------------------------------------

    def user_by_email(self, email: str) -> User | None:
        wanted = email.strip().lower()
        return next((u for u in self.users.values() if u.email.lower() == wanted), None)

    def user_by_login(self, login: str) -> User | None:
        wanted = login.strip().lower()
        return next((u for u in self.users.values() if u.login.lower() == wanted), None)

    def user_type_name(self, type_id: int) -> str:
        user_type = self.user_types.get(type_id)
        return user_type.name if user_type else ""

    def courses_of(self, user_id: int) -> list[int]:
        return sorted(c for (u, c) in self.enrollments if u == user_id)

    def progress_of(self, user_id: int, course_id: int) -> Progress:
        return self.progress.get((user_id, course_id)) or Progress(user_id, course_id)

    # ----- changes that write the timeline ----------------------------------------------

    def user_ref(self, user: User) -> dict[str, Any]:
        return {"id": user.id, "name": user.name, "surname": user.surname, "login": user.login}

    def course_ref(self, course: Course) -> dict[str, Any]:
        return {"id": course.id, "name": course.name, "code": course.code}

    def add_event(
        self,
        event_type: str,
        user: User,
        when: float,
        *,
        course: Course | None = None,
        group: Group | None = None,
        branch: Branch | None = None,
    ) -> Event:
        self._event_seq += 1
        completion_seq = None
        if event_type == "course_completion":
            self._completion_seq += 1
            completion_seq = self._completion_seq
        extra = {
            "user": self.user_ref(user),
            "group": {"id": group.id, "name": group.name} if group else None,
            "course": self.course_ref(course) if course else None,
            "branch": {"id": branch.id, "name": branch.name} if branch else None,
            "unit": None,
        }
        event = Event(self._event_seq, event_type, user.id, when, extra, completion_seq)
        self.events.append(event)
        return event

    def add_user(self, user: User) -> User:
        self.users[user.id] = user
        self.add_event("user_create_user", user, user.registration)
        return user

    def delete_user(self, user_id: int) -> None:
        self.users.pop(user_id, None)
        for key in [k for k in self.enrollments if k[0] == user_id]:
            del self.enrollments[key]
        for key in [k for k in self.progress if k[0] == user_id]:
            del self.progress[key]

    def enroll(self, user_id: int, course_id: int, when: float) -> Enrollment:
        enrollment = Enrollment(user_id, course_id, when)
        self.enrollments[(user_id, course_id)] = enrollment
        return enrollment

    def complete(
        self,
        user: User,
        course: Course,
        when: float,
        *,
        score: float | None = None,
        certificate: Any = None,
        total_time: int | None = None,
    ) -> Progress:
        """Mark a course completed for a user (enrolling them if needed) and log the event."""
        if (user.id, course.id) not in self.enrollments:
            self.enroll(user.id, course.id, when)
        progress = self.progress.setdefault((user.id, course.id), Progress(user.id, course.id))
        progress.completion_status = COMPLETED
        progress.completion_percentage = 100
        progress.completion_date = when
        progress.score = score
        if certificate is not None:
            progress.certificate = certificate
        if total_time is not None:
            progress.total_time = total_time
        self.add_event("course_completion", user, when, course=course)
        return progress

    def set_progress(
        self,
        user: User,
        course: Course,
        percentage: int,
        when: float,
        total_time: int | None = None,
    ) -> Progress:
        """Partial progress ("incomplete"); 100 means completed."""
        if percentage >= 100:
            return self.complete(user, course, when, total_time=total_time)
        if (user.id, course.id) not in self.enrollments:
            self.enroll(user.id, course.id, when)
        progress = self.progress.setdefault((user.id, course.id), Progress(user.id, course.id))
        progress.completion_status = INCOMPLETE if percentage > 0 else NOT_ATTEMPTED
        progress.completion_percentage = max(0, percentage)
        progress.completion_date = None
        if total_time is not None:
            progress.total_time = total_time
        return progress

    def reset_progress(self, user: User, course: Course, when: float) -> None:
        self.progress.pop((user.id, course.id), None)
        self.add_event("course_user_progress_reset", user, when, course=course)

    # ----- seeds ----------------------------------------------------------------------

    def load(self, data: Mapping[str, Any], now: float) -> dict[str, Any]:
        """Add the objects of a seed document (see docs/sandbox.md for its shape)."""
        loaded: dict[str, Any] = {}
        for entry in data.get("user_types", []):
            self.user_types[int(entry["id"])] = UserType(int(entry["id"]), str(entry["name"]))
        for entry in data.get("user_fields", []):
            uf = UserField(
                key=str(entry["key"]),
                name=str(entry["name"]),
                type=str(entry.get("type", "text")),
                mandatory=bool(entry.get("mandatory", False)),
                dropdown_values=entry.get("dropdown_values"),
                order=int(entry.get("order", len(self.user_fields) + 1)),
            )
            if not uf.key.startswith("custom_field_") or not uf.key[13:].isdigit():
                raise SeedError(f"user field key must be custom_field_N: {uf.key!r}")
            self.user_fields[uf.key] = uf
        loaded["branches"] = [self._load_branch(e).id for e in data.get("branches", [])]
        loaded["courses"] = [self._load_course(e, now).id for e in data.get("courses", [])]
        loaded["groups"] = [self._load_group(e).id for e in data.get("groups", [])]
        loaded["users"] = [self._load_user(e, now).id for e in data.get("users", [])]
        for entry in data.get("enrollments", []):
            user, course = self._pair(entry)
            self.enroll(user.id, course.id, _ts(entry.get("enrolled_at"), now))
        for entry in data.get("progress", []):
            user, course = self._pair(entry)
            progress = self.set_progress(
                user,
                course,
                int(entry.get("completion_percentage", 0)),
                now,
                total_time=entry.get("total_time"),
            )
            if progress.completion_status != COMPLETED and entry.get("score") is not None:
                progress.score = float(entry["score"])
        for entry in data.get("completions", []):
            user, course = self._pair(entry)
            self.complete(
                user,
                course,
                _ts(entry.get("completed_at"), now),
                score=entry.get("score"),
                certificate=entry.get("certificate"),
                total_time=entry.get("total_time"),
            )
        self.events.sort(key=lambda e: e.created_at)
        return {k: v for k, v in loaded.items() if v}

    def _pair(self, entry: Mapping[str, Any]) -> tuple[User, Course]:
        user = self.users.get(int(entry["user_id"]))
        course = self.courses.get(int(entry["course_id"]))
        if user is None or course is None:
            raise SeedError(f"unknown user or course in {dict(entry)!r}")
        return user, course

    def _load_branch(self, entry: Mapping[str, Any]) -> Branch:
        branch_id = int(entry.get("id") or self.next_id("branch", self.branches))
        branch = Branch(
            id=branch_id,
            name=str(entry["name"]),
            description=entry.get("description"),
            active=bool(entry.get("active", True)),
            default_locale=str(entry.get("default_locale", "en-US")),
        )
        self.branches[branch_id] = branch
        return branch

    def _load_course(self, entry: Mapping[str, Any], now: float) -> Course:
        course_id = int(entry.get("id") or self.next_id("course", self.courses))
        course = Course(
            id=course_id,
            name=str(entry["name"]),
            created=_ts(entry.get("creation_date"), now),
            code=entry.get("code"),
            status=str(entry.get("status", ACTIVE)),
            description=entry.get("description"),
            category=entry.get("category"),
            price=float(entry.get("price", 0)),
            custom_fields=dict(entry.get("custom_fields", {})),
        )
        self.courses[course_id] = course
        for branch_id in entry.get("branches", []):
            self.branches[int(branch_id)].courses.add(course_id)
        return course

    def _load_group(self, entry: Mapping[str, Any]) -> Group:
        group_id = int(entry.get("id") or self.next_id("group", self.groups))
        group = Group(
            id=group_id,
            name=str(entry["name"]),
            description=entry.get("description"),
            key=entry.get("key"),
            max_key_redemptions=entry.get("max_key_redemptions"),
            price=entry.get("price"),
            branch_id=entry.get("branch_id"),
            courses={int(c) for c in entry.get("courses", [])},
        )
        self.groups[group_id] = group
        return group

    def _load_user(self, entry: Mapping[str, Any], now: float) -> User:
        user_id = int(entry.get("id") or self.next_id("user", self.users))
        login = str(entry["login"])
        user = User(
            id=user_id,
            login=login,
            name=str(entry.get("name", login)),
            surname=str(entry.get("surname", "")),
            email=str(entry.get("email", f"{login}@example.com")),
            registration=_ts(entry.get("registration"), now),
            status=str(entry.get("status", ACTIVE)),
            user_type_id=int(entry.get("user_type_id", 4)),
            timezone=str(entry.get("timezone", "UTC")),
            locale=str(entry.get("locale", "en-US")),
            last_login=_ts(entry["last_login"], now) if entry.get("last_login") else None,
            has_password=bool(entry.get("has_password", True)),  # False: a single sign-on user
            custom_fields={str(k): str(v) for k, v in entry.get("custom_fields", {}).items()},
            groups={int(g) for g in entry.get("groups", [])},
            branches={int(b) for b in entry.get("branches", [])},
        )
        for key in user.custom_fields:
            if key not in self.user_fields:
                raise SeedError(f"user {login!r}: no user field {key!r}")
        for group_id in user.groups:
            if group_id not in self.groups:
                raise SeedError(f"user {login!r}: no group {group_id}")
        for branch_id in user.branches:
            if branch_id not in self.branches:
                raise SeedError(f"user {login!r}: no branch {branch_id}")
        self.add_user(user)
        for course_id in entry.get("courses", []):
            if int(course_id) not in self.courses:
                raise SeedError(f"user {login!r}: no course {course_id}")
            self.enroll(user_id, int(course_id), user.registration)
        return user

    # ----- dump -----------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        return {
            "user_types": [{"id": t.id, "name": t.name} for t in self.user_types.values()],
            "user_fields": [
                {"key": f.key, "name": f.name, "type": f.type, "mandatory": f.mandatory}
                for f in sorted(self.user_fields.values(), key=lambda f: f.order)
            ],
            "users": [
                {
                    "id": u.id,
                    "login": u.login,
                    "name": u.name,
                    "surname": u.surname,
                    "email": u.email,
                    "status": u.status,
                    "user_type_id": u.user_type_id,
                    "timezone": u.timezone,
                    "locale": u.locale,
                    "deactivation_date": u.deactivation_date,
                    "registration": iso_offset(u.registration),
                    "has_password": u.has_password,
                    "custom_fields": dict(sorted(u.custom_fields.items())),
                    "groups": sorted(u.groups),
                    "branches": sorted(u.branches),
                    "courses": self.courses_of(u.id),
                }
                for u in sorted(self.users.values(), key=lambda u: u.id)
            ],
            "courses": [
                {"id": c.id, "name": c.name, "code": c.code, "status": c.status}
                for c in sorted(self.courses.values(), key=lambda c: c.id)
            ],
            "groups": [
                {
                    "id": g.id,
                    "name": g.name,
                    "description": g.description,
                    "key": g.key,
                    "users": sorted(u.id for u in self.users.values() if g.id in u.groups),
                    "courses": sorted(g.courses),
                }
                for g in sorted(self.groups.values(), key=lambda g: g.id)
            ],
            "branches": [
                {
                    "id": b.id,
                    "name": b.name,
                    "active": b.active,
                    "users": sorted(u.id for u in self.users.values() if b.id in u.branches),
                }
                for b in sorted(self.branches.values(), key=lambda b: b.id)
            ],
            "enrollments": [
                {
                    "user_id": e.user_id,
                    "course_id": e.course_id,
                    "role": e.role,
                    "enrolled_at": iso_offset(e.enrolled_at),
                }
                for e in sorted(self.enrollments.values(), key=lambda e: (e.user_id, e.course_id))
            ],
            "progress": [
                {
                    "user_id": p.user_id,
                    "course_id": p.course_id,
                    "completion_status": p.completion_status,
                    "completion_percentage": p.completion_percentage,
                    "score": p.score,
                    "completion_date": iso_offset(p.completion_date) if p.completion_date else None,
                    "certificate": p.certificate,
                }
                for p in sorted(self.progress.values(), key=lambda p: (p.user_id, p.course_id))
            ],
            "timeline": [
                {
                    "id": str(e.seq),
                    "event_type": e.event_type,
                    "user_id": e.user_id,
                    "created_at": iso_offset(e.created_at),
                    "extra": e.extra,
                }
                for e in self.events
            ],
        }
