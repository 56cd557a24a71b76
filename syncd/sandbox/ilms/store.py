"""One iLMS organization's data: the region/division/department tree, users, groups,
courses and enrollments (which are also the transcripts), with seeds and a dump."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from syncd.sandbox.clock import parse_iso
from syncd.sandbox.ilms.facts import FIELDS, HIERARCHY, REGISTRATION_TYPES
from syncd.sandbox.ilms.fields import ProfileRules, check_profile

ACTIVE, INACTIVE, DELETED = "Active", "Inactive", "Deleted"
USER_STATUSES = {"active": ACTIVE, "inactive": INACTIVE, "deleted": DELETED}

NOT_STARTED, IN_PROGRESS = "Not Started", "In Progress"
PASS, FAIL, WAIVED = "Pass", "Fail", "Waived"
COURSE_STATUSES = (NOT_STARTED, IN_PROGRESS, PASS, FAIL, WAIVED)
COURSE_TYPES = ("iComposer", "SCORM", "ILT", "EVENTS")
REQUIREMENT_TYPES = ("Mandatory", "Optional")


class SeedError(ValueError):
    """A seed document the store cannot load; the message names the entry."""


class HierarchyError(ValueError):
    """The F019/F020/F021 names do not make a region -> division -> department chain."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def ilms_time(ts: float | None) -> str | None:
    """iLMS style: no zone, 0-3 fractional digits (``2013-10-23T13:30:38.22``)."""
    if ts is None:
        return None
    moment = datetime.fromtimestamp(ts, UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    millis = round(moment.microsecond / 1000)
    if 0 < millis < 1000:
        text += f".{millis:03d}".rstrip("0")
    return text


def parse_ilms_time(value: Any) -> float | None:
    """A seed or control timestamp: ISO-8601 text (no zone means UTC) or epoch seconds."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        return parse_iso(str(value))
    except ValueError:
        raise SeedError(f"not an ISO-8601 timestamp: {value!r}") from None


@dataclass(slots=True)
class Node:
    """A region, division or department: an id, a name and (but for departments) children."""

    id: int
    name: str
    children: dict[int, Node] = field(default_factory=dict)

    def child(self, name: str) -> Node | None:
        wanted = name.strip().casefold()
        return next((c for c in self.children.values() if c.name.casefold() == wanted), None)


@dataclass(slots=True)
class ILMSUser:
    id: int
    profile: dict[str, str | None]
    region_id: int
    division_id: int
    department_id: int
    registered_at: float
    status: str = ACTIVE
    registration_type: str = "API"
    has_password: bool = False


@dataclass(slots=True)
class Group:
    id: int
    name: str
    description: str = ""
    members: set[int] = field(default_factory=set)
    course_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Course:
    id: str
    name: str
    type: str = "iComposer"
    delivery_type: str = "Web-based"
    requirement_type: str = "Mandatory"
    credits: str = "0"
    hours: str = "0"
    status: str = "Active"
    historical: bool = False
    description: str = ""
    keywords: str = ""
    default_due_date: str | None = None
    days_after_enrollment: int | None = None
    certification: bool = False


@dataclass(slots=True)
class Enrollment:
    user_id: int
    course_id: str
    enrolled_at: float
    requirement_type: str = "Mandatory"
    due_at: float | None = None
    started_at: float | None = None
    completed_at: float | None = None
    score: int | None = None
    status: str = NOT_STARTED
    time_spent: int = 0
    license_expires_at: float | None = None
    certified_until: float | None = None

    @property
    def key(self) -> tuple[int, str]:
        return (self.user_id, self.course_id)


class Store:
    """Everything one iLMS organization holds. Not thread-safe: used under the simulator lock."""

    def __init__(self) -> None:
        self.regions: dict[int, Node] = {}
        self.users: dict[int, ILMSUser] = {}
        self.groups: dict[int, Group] = {}
        self.courses: dict[str, Course] = {}
        self.enrollments: dict[tuple[int, str], Enrollment] = {}
        self.languages: tuple[str, ...] | None = None  # None: every documented language
        self._next: dict[str, int] = {}

    def next_id(self, kind: str, taken: Iterable[int], start: int) -> int:
        candidate = max([self._next.get(kind, start), *(i + 1 for i in taken)])
        self._next[kind] = candidate + 1
        return candidate

    def _node_ids(self, depth: int) -> list[int]:
        level = list(self.regions.values())
        for _ in range(depth):
            level = [c for n in level for c in n.children.values()]
        return [n.id for n in level]

    # ----- hierarchy --------------------------------------------------------------------

    def region(self, name: str) -> Node | None:
        wanted = name.strip().casefold()
        return next((r for r in self.regions.values() if r.name.casefold() == wanted), None)

    def resolve_hierarchy(self, names: Mapping[str, str | None]) -> tuple[Node, Node, Node]:
        """The (region, division, department) the F019/F020/F021 names point at."""
        region_name, division_name, department_name = (str(names[c] or "") for c in HIERARCHY)
        region = self.region(region_name)
        if region is None:
            raise HierarchyError("F019", f"F019 (Region) {region_name!r} does not exist.")
        division = region.child(division_name)
        if division is None:
            raise HierarchyError(
                "F020",
                f"F020 (Division) {division_name!r} does not exist in region {region.name!r}.",
            )
        department = division.child(department_name)
        if department is None:
            raise HierarchyError(
                "F021",
                f"F021 (Department) {department_name!r} does not exist in division "
                f"{division.name!r} of region {region.name!r}.",
            )
        return region, division, department

    def add_node(self, parent: Node | None, depth: int, name: str, node_id: Any = None) -> Node:
        """A new region (depth 0), division (1) or department (2) under ``parent``."""
        start = (13001, 8001, 15001)[depth]
        taken = self._node_ids(depth)
        new_id = int(node_id) if node_id else self.next_id(f"node{depth}", taken, start)
        node = Node(new_id, name.strip())
        (self.regions if parent is None else parent.children)[node.id] = node
        return node

    def hierarchy_of(self, user: ILMSUser) -> tuple[Node, Node, Node]:
        region = self.regions[user.region_id]
        division = region.children[user.division_id]
        return region, division, division.children[user.department_id]

    # ----- lookups ------------------------------------------------------------------------

    def user_ref(self, raw: Any) -> ILMSUser | None:
        """A user named by id; the documents send ids both as numbers and as text."""
        if isinstance(raw, bool):
            return None
        text = str(raw).strip() if isinstance(raw, int | str) else ""
        return self.users.get(int(text)) if text.isdigit() else None

    def groups_of(self, user_id: int) -> list[int]:
        return sorted(g.id for g in self.groups.values() if user_id in g.members)

    def enroll(self, user: ILMSUser, course: Course, now: float) -> Enrollment:
        """Enroll (once): the due date follows the course's default due date settings."""
        existing = self.enrollments.get((user.id, course.id))
        if existing is not None:
            return existing
        due: float | None = None
        if course.default_due_date:
            due = parse_iso(course.default_due_date)
        elif course.days_after_enrollment:
            due = now + course.days_after_enrollment * 86400
        enrollment = Enrollment(user.id, course.id, now, course.requirement_type, due)
        self.enrollments[enrollment.key] = enrollment
        return enrollment

    def record_result(
        self,
        enrollment: Enrollment,
        status: str,
        now: float,
        *,
        score: int | None = None,
        completed_at: float | None = None,
        started_at: float | None = None,
        time_spent: int | None = None,
        certified_until: float | None = None,
    ) -> Enrollment:
        """What a learner (or an admin) does: start, pass, fail or be waived. Passing a
        certification course certifies for a year unless ``certified_until`` says when."""
        enrollment.status = status
        if status == NOT_STARTED:
            enrollment.started_at = enrollment.completed_at = enrollment.score = None
        else:
            enrollment.started_at = started_at or enrollment.started_at or completed_at or now
        if status in (PASS, FAIL, WAIVED):
            enrollment.completed_at = completed_at or now
            enrollment.score = score if score is not None else (100 if status == PASS else 0)
        elif status == IN_PROGRESS:
            enrollment.completed_at = None
            enrollment.score = score
        if time_spent is not None:
            enrollment.time_spent = time_spent
        course = self.courses.get(enrollment.course_id)
        if course is not None and course.certification and status == PASS:
            enrollment.certified_until = certified_until or (
                (enrollment.completed_at or now) + 365 * 86400
            )
        return enrollment

    # ----- seeds --------------------------------------------------------------------------

    def load(
        self,
        data: Mapping[str, Any],
        now: float,
        rules: ProfileRules,
        new_course_id: Callable[[], str],
    ) -> dict[str, Any]:
        loaded: dict[str, Any] = {}
        if "languages" in data:
            self.languages = tuple(str(x) for x in data["languages"])
        loaded["regions"] = [self._load_region(e).id for e in data.get("regions", [])]
        loaded["groups"] = [self._load_group(e).id for e in data.get("groups", [])]
        loaded["courses"] = [
            self._load_course(e, new_course_id).id for e in data.get("courses", [])
        ]
        loaded["users"] = [self._load_user(e, now, rules).id for e in data.get("users", [])]
        for entry in data.get("enrollments", []):
            self._load_enrollment(entry, now)
        loaded["enrollments"] = len(data.get("enrollments", []))
        return {k: v for k, v in loaded.items() if v}

    def _load_region(self, entry: Mapping[str, Any]) -> Node:
        name = str(entry["name"])
        region = self.region(name) or self.add_node(None, 0, name, entry.get("id"))
        for div_entry in entry.get("divisions", []):
            div_name = str(div_entry["name"])
            division = region.child(div_name) or self.add_node(
                region, 1, div_name, div_entry.get("id")
            )
            for dep_entry in div_entry.get("departments", []):
                dep_name = str(dep_entry["name"])
                if division.child(dep_name) is None:
                    self.add_node(division, 2, dep_name, dep_entry.get("id"))
        return region

    def _load_group(self, entry: Mapping[str, Any]) -> Group:
        group_id = int(entry.get("id") or self.next_id("group", self.groups, 2))
        group = Group(group_id, str(entry["name"]), str(entry.get("description", "")))
        group.course_ids = [str(c) for c in entry.get("courses", [])]
        self.groups[group_id] = group
        return group

    def _load_course(self, entry: Mapping[str, Any], new_course_id: Callable[[], str]) -> Course:
        course_id = str(entry.get("id") or new_course_id())
        kind = str(entry.get("type", "iComposer"))
        if kind not in COURSE_TYPES:
            raise SeedError(f"course {course_id!r}: type must be one of {COURSE_TYPES}")
        course = Course(
            id=course_id,
            name=str(entry["name"]),
            type=kind,
            delivery_type=str(entry.get("delivery_type", "Web-based")),
            requirement_type=str(entry.get("requirement_type", "Mandatory")),
            credits=str(entry.get("credits", "0")),
            hours=str(entry.get("hours", "0")),
            status=str(entry.get("status", "Active")),
            historical=bool(entry.get("historical", False)),
            description=str(entry.get("description", "")),
            keywords=str(entry.get("keywords", "")),
            default_due_date=entry.get("default_due_date"),
            days_after_enrollment=entry.get("days_after_enrollment"),
            certification=bool(entry.get("certification", False)),
        )
        self.courses[course_id] = course
        return course

    def _load_user(self, entry: Mapping[str, Any], now: float, rules: ProfileRules) -> ILMSUser:
        user_id = int(entry.get("id") or self.next_id("user", self.users, 517001))
        checked = check_profile(
            [(str(k).upper(), v) for k, v in dict(entry.get("profile", {})).items()],
            ProfileRules(self.languages or rules.languages, rules.ldap, True),
            creating=True,
        )
        if checked.errors:
            reasons = "; ".join(e["Message"] for e in checked.errors)
            raise SeedError(f"user {user_id}: {reasons}")
        try:
            hierarchy = self.resolve_hierarchy(checked.values)
        except HierarchyError as exc:
            raise SeedError(f"user {user_id}: {exc}") from None
        status = str(entry.get("status", ACTIVE)).capitalize()
        if status not in (ACTIVE, INACTIVE, DELETED):
            raise SeedError(f"user {user_id}: status must be Active, Inactive or Deleted")
        registration_type = str(entry.get("registration_type", "API"))
        if registration_type not in REGISTRATION_TYPES:
            raise SeedError(
                f"user {user_id}: registration_type must be one of {', '.join(REGISTRATION_TYPES)}"
            )
        user = ILMSUser(
            id=user_id,
            profile={},
            region_id=hierarchy[0].id,
            division_id=hierarchy[1].id,
            department_id=hierarchy[2].id,
            registered_at=parse_ilms_time(entry.get("registered_at")) or now,
            status=status,
            registration_type=registration_type,
            has_password=checked.password is not None,
        )
        apply_profile(user, checked.values, hierarchy)
        self.users[user_id] = user
        for group_id in entry.get("groups", []):
            group = self.groups.get(int(group_id))
            if group is None:
                raise SeedError(f"user {user_id}: no group {group_id}")
            group.members.add(user_id)
        return user

    def _load_enrollment(self, entry: Mapping[str, Any], now: float) -> Enrollment:
        user = self.user_ref(entry.get("user_id"))
        course = self.courses.get(str(entry.get("course_id")))
        if user is None or course is None:
            raise SeedError(f"enrollment {dict(entry)!r}: unknown user_id or course_id")
        enrolled_at = parse_ilms_time(entry.get("enrolled_at")) or now
        enrollment = self.enroll(user, course, enrolled_at)
        status = str(entry.get("status", NOT_STARTED))
        if status not in COURSE_STATUSES:
            raise SeedError(f"enrollment status must be one of {COURSE_STATUSES}: {status!r}")
        score = entry.get("score")
        self.record_result(
            enrollment,
            status,
            now,
            score=int(score) if score is not None else None,
            completed_at=parse_ilms_time(entry.get("completed_at")),
            started_at=parse_ilms_time(entry.get("started_at")),
            time_spent=int(entry.get("time_spent", 0)),
            certified_until=parse_ilms_time(entry.get("certified_until")),
        )
        return enrollment

    # ----- dump ---------------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        return {
            "languages": list(self.languages) if self.languages is not None else None,
            "regions": [
                {
                    "id": r.id,
                    "name": r.name,
                    "divisions": [
                        {
                            "id": d.id,
                            "name": d.name,
                            "departments": [
                                {"id": x.id, "name": x.name} for x in d.children.values()
                            ],
                        }
                        for d in r.children.values()
                    ],
                }
                for r in self.regions.values()
            ],
            "users": [
                {
                    "id": u.id,
                    "status": u.status,
                    "registration_type": u.registration_type,
                    "registered_at": ilms_time(u.registered_at),
                    "profile": {
                        **{k: v for k, v in u.profile.items() if k in FIELDS},
                        **dict(zip(HIERARCHY, (n.name for n in self.hierarchy_of(u)), strict=True)),
                    },
                    "has_password": u.has_password,
                    "groups": self.groups_of(u.id),
                }
                for u in sorted(self.users.values(), key=lambda u: u.id)
            ],
            "groups": [
                {
                    "id": g.id,
                    "name": g.name,
                    "description": g.description,
                    "members": sorted(g.members),
                    "courses": list(g.course_ids),
                }
                for g in sorted(self.groups.values(), key=lambda g: g.id)
            ],
            "courses": [
                {
                    "id": c.id,
                    "name": c.name,
                    "type": c.type,
                    "status": c.status,
                    "historical": c.historical,
                }
                for c in self.courses.values()
            ],
            "enrollments": [
                {
                    "user_id": e.user_id,
                    "course_id": e.course_id,
                    "status": e.status,
                    "score": e.score,
                    "enrolled_at": ilms_time(e.enrolled_at),
                    "completed_at": ilms_time(e.completed_at),
                }
                for e in sorted(self.enrollments.values(), key=lambda e: e.key)
            ],
        }


def apply_profile(
    user: ILMSUser, values: Mapping[str, str | None], hierarchy: tuple[Node, Node, Node] | None
) -> None:
    """Write checked values onto ``user``; the triple only when all three were resolved."""
    for code, value in values.items():
        if code in HIERARCHY:
            continue
        user.profile[code] = value
    if hierarchy is not None:
        region, division, department = hierarchy
        user.region_id, user.division_id, user.department_id = (
            region.id,
            division.id,
            department.id,
        )
