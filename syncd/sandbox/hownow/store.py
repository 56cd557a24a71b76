"""HowNow workspace state: users, job roles, groups, contents, assignments and external
learning records, with identifier resolution (``ID-``/``EXT-``/``EMAIL-``), seeds and a dump."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from syncd.sandbox.clock import iso_z, parse_iso

USER_TYPES = ("Admin", "Manager", "ReadOnly", "Contributor")
INT32_MAX = 2_147_483_647

NOT_STARTED = "Not Started"
IN_PROGRESS = "In Progress"
COMPLETED = "Completed"


@dataclass(slots=True)
class HowNowUser:
    id: int
    name: str
    email: str
    user_type: str
    created_at: float
    external_user_id: str | None = None
    deactivated_at: float | None = None
    last_signed_at: float | None = None
    last_active_at: float | None = None
    start_date: str | None = None
    manager_id: int | None = None
    job_role_id: int | None = None
    avatar_url: str | None = None
    custom_fields: dict[str, str] = field(default_factory=dict)
    responsibilities: bool = False  # owns content, groups or channels outside the sandbox's model

    @property
    def active(self) -> bool:
        return self.deactivated_at is None

    @property
    def status(self) -> str:
        """ "Deactivated", else "Invited" until the first sign-in, then "Active"."""
        if self.deactivated_at is not None:
            return "Deactivated"
        return "Active" if self.last_signed_at is not None else "Invited"


@dataclass(slots=True)
class JobRole:
    id: int
    name: str
    created_at: float
    external_id: str | None = None
    description: str | None = None


@dataclass(slots=True)
class Group:
    id: int
    team_name: str
    created_at: float
    owner_id: int | None = None
    members: dict[int, tuple[str, float]] = field(default_factory=dict)  # user id -> (role, joined)
    channels: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class Content:
    id: int
    title: str
    source: str = "course"
    content_type: str = "Course"
    external_id: str | None = None
    author_id: int | None = None
    language: str = "en"

    @property
    def hownow_id(self) -> str:
        return f"{self.source}_{self.id}"


@dataclass(slots=True)
class Assignment:
    user_id: int
    content_id: int
    assigned_at: float
    status: str = NOT_STARTED
    progress: int = 0
    completed_at: float | None = None
    deadline_date: float | None = None
    renewal_due_date: float | None = None
    assigned_via: str = "direct"


class SeedError(ValueError):
    """A seed document the store cannot load; the message names the entry."""


def _ts(value: Any, default: float | None) -> float | None:
    if value is None:
        return default
    if isinstance(value, int | float):
        return float(value)
    try:
        return parse_iso(str(value))
    except ValueError:
        raise SeedError(f"not an ISO-8601 timestamp: {value!r}") from None


def _iso(ts: float | None) -> str | None:
    return iso_z(ts) if ts is not None else None


class Store:
    """Everything one HowNow workspace holds. Not thread-safe: used under the simulator lock."""

    def __init__(self) -> None:
        self.users: dict[int, HowNowUser] = {}
        self.job_roles: dict[int, JobRole] = {}
        self.groups: dict[int, Group] = {}
        self.contents: dict[int, Content] = {}
        self.assignments: dict[tuple[int, int], Assignment] = {}
        self.learning_records: dict[tuple[str, str], dict[str, Any]] = {}
        self.custom_field_names: set[str] = set()
        self.seat_limit: int | None = None
        self._next: dict[str, int] = {}

    def next_id(self, kind: str, taken: Iterable[int], start: int) -> int:
        candidate = max([self._next.get(kind, start), *(i + 1 for i in taken)])
        self._next[kind] = candidate + 1
        return candidate

    # ----- identifiers ----------------------------------------------------------------

    def resolve_user(
        self, identifier: str | None, *, allow_email: bool = False, bare_is_external: bool = False
    ) -> HowNowUser | None:
        """``ID-{id}``, ``EXT-{external_id}`` (and ``EMAIL-{email}`` for X-User-Id)."""
        if not identifier:
            return None
        prefix, _, value = identifier.partition("-")
        if prefix == "ID" and value:
            if not value.isdigit() or int(value) > INT32_MAX:
                return None
            return self.users.get(int(value))
        if prefix == "EXT" and value:
            return self.user_by_external(value)
        if prefix == "EMAIL" and value and allow_email:
            return self.user_by_email(value)
        if bare_is_external:
            return self.user_by_external(identifier)
        return None

    def user_by_external(self, external_id: str) -> HowNowUser | None:
        return next((u for u in self.users.values() if u.external_user_id == external_id), None)

    def user_by_email(self, email: str) -> HowNowUser | None:
        wanted = email.strip().lower()
        return next((u for u in self.users.values() if u.email.lower() == wanted), None)

    def resolve_job_role(self, identifier: str | None) -> JobRole | None:
        if not identifier:
            return None
        prefix, _, value = identifier.partition("-")
        if prefix == "ID" and value.isdigit():
            return self.job_roles.get(int(value))
        if prefix == "EXT" and value:
            return next((r for r in self.job_roles.values() if r.external_id == value), None)
        return None

    def job_role_by_name(self, name: str) -> JobRole | None:
        wanted = name.strip().lower()
        return next((r for r in self.job_roles.values() if r.name.lower() == wanted), None)

    def content_by_ref(self, ref: str | None) -> Content | None:
        """A content by ``hownow_id`` (``course_123``), external id or numeric id."""
        if ref is None:
            return None
        ref = str(ref)
        for content in self.contents.values():
            if ref in (content.hownow_id, content.external_id, str(content.id)):
                return content
        return None

    def content_by_external(self, external_id: str) -> Content | None:
        return next((c for c in self.contents.values() if c.external_id == external_id), None)

    def has_responsibilities(self, user: HowNowUser) -> bool:
        """Owns a group or authored content (or was seeded as owning something else)."""
        return (
            user.responsibilities
            or any(g.owner_id == user.id for g in self.groups.values())
            or any(c.author_id == user.id for c in self.contents.values())
        )

    def transfer_responsibilities(self, user: HowNowUser, assignee: HowNowUser) -> None:
        for group in self.groups.values():
            if group.owner_id == user.id:
                group.owner_id = assignee.id
        for content in self.contents.values():
            if content.author_id == user.id:
                content.author_id = assignee.id
        if user.responsibilities:
            assignee.responsibilities = True
            user.responsibilities = False

    def active_seats(self) -> int:
        return sum(1 for u in self.users.values() if u.active)

    def delete_user(self, user: HowNowUser) -> None:
        del self.users[user.id]
        for group in self.groups.values():
            group.members.pop(user.id, None)
        for key in [k for k in self.assignments if k[0] == user.id]:
            del self.assignments[key]
        for other in self.users.values():
            if other.manager_id == user.id:
                other.manager_id = None

    def set_progress(
        self,
        user: HowNowUser,
        content: Content,
        progress: int,
        now: float,
        *,
        status: str | None = None,
        completed_at: float | None = None,
    ) -> Assignment:
        """Assign (if needed) and set progress; 100 (or status Completed) completes it."""
        assignment = self.assignments.get((user.id, content.id))
        if assignment is None:
            assignment = Assignment(user.id, content.id, now)
            self.assignments[(user.id, content.id)] = assignment
        assignment.progress = max(0, min(100, progress))
        if status == COMPLETED or assignment.progress == 100:
            assignment.status = COMPLETED
            assignment.progress = 100
            assignment.completed_at = completed_at or now
        else:
            assignment.status = status or (IN_PROGRESS if assignment.progress else NOT_STARTED)
            assignment.completed_at = None
        return assignment

    # ----- seeds ----------------------------------------------------------------------

    def load(self, data: Mapping[str, Any], now: float) -> dict[str, Any]:
        loaded: dict[str, Any] = {}
        self.custom_field_names.update(str(n) for n in data.get("custom_fields", []))
        if "seat_limit" in data:
            self.seat_limit = None if data["seat_limit"] is None else int(data["seat_limit"])
        loaded["job_roles"] = [self._load_role(e, now).id for e in data.get("job_roles", [])]
        users = [self._load_user(e, now) for e in data.get("users", [])]
        for entry, user in zip(data.get("users", []), users, strict=True):
            if entry.get("manager"):
                manager = self.resolve_user(entry["manager"])
                if manager is None:
                    raise SeedError(
                        f"user {user.external_user_id!r}: no manager {entry['manager']!r}"
                    )
                user.manager_id = manager.id
        loaded["users"] = [u.id for u in users]
        loaded["groups"] = [self._load_group(e, now).id for e in data.get("groups", [])]
        loaded["contents"] = [self._load_content(e).id for e in data.get("contents", [])]
        for entry in data.get("assignments", []):
            user = self.resolve_user(str(entry["user"]))
            content = self.content_by_ref(entry["content"])
            if user is None or content is None:
                raise SeedError(f"unknown user or content in assignment {dict(entry)!r}")
            assignment = self.set_progress(
                user,
                content,
                int(entry.get("progress", 0)),
                now,
                status=entry.get("status"),
                completed_at=_ts(entry.get("completed_at"), None),
            )
            assignment.assigned_at = _ts(entry.get("assigned_at"), now) or now
            assignment.deadline_date = _ts(entry.get("deadline_date"), None)
            assignment.renewal_due_date = _ts(entry.get("renewal_due_date"), None)
            assignment.assigned_via = str(entry.get("assigned_via", "direct"))
        return {k: v for k, v in loaded.items() if v}

    def _load_role(self, entry: Mapping[str, Any], now: float) -> JobRole:
        role_id = int(entry.get("id") or self.next_id("role", self.job_roles, 9001))
        role = JobRole(
            role_id,
            str(entry["name"]),
            _ts(entry.get("created_at"), now) or now,
            entry.get("external_id"),
            entry.get("description"),
        )
        self.job_roles[role_id] = role
        return role

    def _load_user(self, entry: Mapping[str, Any], now: float) -> HowNowUser:
        user_id = int(entry.get("id") or self.next_id("user", self.users, 300001))
        user_type = str(entry.get("user_type", "ReadOnly"))
        if user_type not in USER_TYPES:
            raise SeedError(f"user_type must be one of {USER_TYPES}: {user_type!r}")
        status = str(entry.get("status", "Active"))
        signed_in = _ts(entry.get("last_signed_at"), now if status != "Invited" else None)
        role = entry.get("job_role")
        role_obj = (self.resolve_job_role(role) or self.job_role_by_name(role)) if role else None
        if role and role_obj is None:
            raise SeedError(f"user {entry.get('external_user_id')!r}: no job role {role!r}")
        user = HowNowUser(
            id=user_id,
            name=str(entry["name"]),
            email=str(entry["email"]),
            user_type=user_type,
            created_at=_ts(entry.get("created_at"), now) or now,
            external_user_id=entry.get("external_user_id"),
            deactivated_at=now if status == "Deactivated" else None,
            last_signed_at=signed_in,
            last_active_at=signed_in,
            start_date=entry.get("start_date"),
            job_role_id=role_obj.id if role_obj else None,
            custom_fields={str(k): str(v) for k, v in entry.get("custom_fields", {}).items()},
            responsibilities=bool(entry.get("responsibilities", False)),
        )
        self.users[user_id] = user
        return user

    def _load_group(self, entry: Mapping[str, Any], now: float) -> Group:
        group_id = int(entry.get("id") or self.next_id("group", self.groups, 30001))
        owner = self.resolve_user(entry["owner"]) if entry.get("owner") else None
        if entry.get("owner") and owner is None:
            raise SeedError(f"group {entry.get('team_name')!r}: no owner {entry['owner']!r}")
        group = Group(
            group_id,
            str(entry["team_name"]),
            _ts(entry.get("created_at"), now) or now,
            owner.id if owner else None,
            channels=list(entry.get("channels", [])),
        )
        for member in entry.get("users", []):
            ref = member if isinstance(member, str) else member["user"]
            role = "Manager" if isinstance(member, str) else str(member.get("role", "ReadOnly"))
            user = self.resolve_user(ref)
            if user is None:
                raise SeedError(f"group {group.team_name!r}: no user {ref!r}")
            group.members[user.id] = (role, now)
        self.groups[group_id] = group
        return group

    def _load_content(self, entry: Mapping[str, Any]) -> Content:
        content_id = int(entry.get("id") or self.next_id("content", self.contents, 184001))
        author = self.resolve_user(entry["author"]) if entry.get("author") else None
        content = Content(
            content_id,
            str(entry["title"]),
            str(entry.get("source", "course")),
            str(entry.get("content_type", "Course")),
            entry.get("external_id"),
            author.id if author else None,
            str(entry.get("language", "en")),
        )
        self.contents[content_id] = content
        return content

    # ----- dump -----------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        def ext(user_id: int | None) -> str | None:
            user = self.users.get(user_id) if user_id else None
            return (
                f"EXT-{user.external_user_id}"
                if user and user.external_user_id
                else (f"ID-{user.id}" if user else None)
            )

        return {
            "custom_fields": sorted(self.custom_field_names),
            "seat_limit": self.seat_limit,
            "users": [
                {
                    "id": u.id,
                    "external_user_id": u.external_user_id,
                    "name": u.name,
                    "email": u.email,
                    "user_type": u.user_type,
                    "status": u.status,
                    "manager": ext(u.manager_id),
                    "job_role": self.job_roles[u.job_role_id].name
                    if u.job_role_id in self.job_roles
                    else None,
                    "start_date": u.start_date,
                    "avatar_url": u.avatar_url,
                    "custom_fields": dict(sorted(u.custom_fields.items())),
                    "deactivated_at": _iso(u.deactivated_at),
                    "responsibilities": self.has_responsibilities(u),
                }
                for u in sorted(self.users.values(), key=lambda u: u.id)
            ],
            "job_roles": [
                {"id": r.id, "external_id": r.external_id, "name": r.name}
                for r in sorted(self.job_roles.values(), key=lambda r: r.id)
            ],
            "groups": [
                {
                    "id": g.id,
                    "team_name": g.team_name,
                    "owner": ext(g.owner_id),
                    "users": [ext(uid) for uid in sorted(g.members)],
                }
                for g in sorted(self.groups.values(), key=lambda g: g.id)
            ],
            "contents": [
                {
                    "id": c.id,
                    "hownow_id": c.hownow_id,
                    "external_id": c.external_id,
                    "title": c.title,
                    "author": ext(c.author_id),
                }
                for c in sorted(self.contents.values(), key=lambda c: c.id)
            ],
            "assignments": [
                {
                    "user": ext(a.user_id),
                    "content": self.contents[a.content_id].hownow_id,
                    "status": a.status,
                    "progress": a.progress,
                    "completed_at": _iso(a.completed_at),
                }
                for a in sorted(self.assignments.values(), key=lambda a: (a.user_id, a.content_id))
                if a.content_id in self.contents
            ],
            "learning_records": [dict(r) for _, r in sorted(self.learning_records.items())],
        }
