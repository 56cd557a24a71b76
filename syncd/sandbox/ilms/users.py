"""iLMS users: list and search, get, create, partial update, inactivate and activate,
delete and purge (seed L60-L698).

Creates and updates are checked field by field against the document's table (required
fields, lengths, restricted characters, lookup values) and the region/division/
department triple against the organization's tree; a refused request changes nothing
and answers 400 with every reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from syncd.sandbox.http import Reply, SimRequest, SimResponse, json_response, route
from syncd.sandbox.ilms.base import (
    ORG,
    ILMSBase,
    bad_request,
    created,
    error,
    no_content,
)
from syncd.sandbox.ilms.facts import DATE_FIELDS, FIELDS, HIERARCHY, SORTABLE_USER_FIELDS
from syncd.sandbox.ilms.fields import (
    ProfileInput,
    check_profile,
    normalize_date,
    read_pairs,
)
from syncd.sandbox.ilms.store import (
    ACTIVE,
    DELETED,
    INACTIVE,
    USER_STATUSES,
    HierarchyError,
    ILMSUser,
    Node,
    apply_profile,
)

_RANGE = re.compile(r"^\((?:From:(?P<start>[^)]*?))?(?:To:(?P<end>[^)]*))?\)$")

Matcher = Callable[[ILMSUser], bool]


def _text_matcher(value: str) -> Callable[[Any], bool]:
    """The four documented searches: "exact", contains, prefix*, *suffix (case-insensitive)."""
    if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
        wanted = value[1:-1].casefold()
        return lambda v: v is not None and str(v).casefold() == wanted
    if len(value) > 1 and value.endswith("*") and not value.startswith("*"):
        prefix = value[:-1].casefold()
        return lambda v: v is not None and str(v).casefold().startswith(prefix)
    if len(value) > 1 and value.startswith("*") and not value.endswith("*"):
        suffix = value[1:].casefold()
        return lambda v: v is not None and str(v).casefold().endswith(suffix)
    part = value.strip("*").casefold()
    return lambda v: v is not None and part in str(v).casefold()


def _date_matcher(code: str, value: str) -> Callable[[Any], bool]:
    """``(From:2012-01-01T00:00:00To:2012-12-31T23:59:59)``, either end optional."""
    found = _RANGE.match(value.strip())
    bounds = [found.group("start"), found.group("end")] if found else [None, None]
    if not found or bounds == [None, None]:
        raise bad_request(
            f"{code} takes a date range such as (From:2012-01-01T00:00:00To:2012-12-31T23:59:59)."
        )
    parsed = [normalize_date(b) if b else "" for b in bounds]
    if None in parsed:
        raise bad_request(f"{code}: the dates of the range must be yyyy-MM-ddTHH:mm:ss.")
    start, end = parsed

    def inside(v: Any) -> bool:
        if not v:
            return False
        moment = datetime.fromisoformat(str(v)[:19]).strftime("%Y-%m-%dT%H:%M:%S")
        return (not start or moment >= start) and (not end or moment <= end)

    return inside


def sort_key_for(req: SimRequest, allowed: tuple[str, ...]) -> tuple[str, bool]:
    """The ``sort`` field code and whether it is descending (default F003 ascending)."""
    raw = (req.arg("sort") or "F003").strip()
    descending = raw.startswith("-")
    code = raw.lstrip("-").upper()
    if code not in allowed:
        raise bad_request(f"sort supports {', '.join(allowed)} (with - for descending).")
    return code, descending


class UsersApi(ILMSBase):
    # ----- reads ------------------------------------------------------------------------

    def sorted_users(
        self, users: list[ILMSUser], req: SimRequest, allowed: tuple[str, ...]
    ) -> list[ILMSUser]:
        code, descending = sort_key_for(req, allowed)
        users = sorted(users, key=lambda u: u.id)
        return sorted(
            users,
            key=lambda u: str(self.field_value(u, code) or "").casefold(),
            reverse=descending,
        )

    def search_matchers(self, req: SimRequest) -> list[Matcher]:
        matchers: list[Matcher] = []
        for key, value in req.query:
            code = key.upper()
            if code not in FIELDS or code == "F016":
                continue
            test = _date_matcher(code, value) if code in DATE_FIELDS else _text_matcher(value)
            matchers.append(lambda u, c=code, t=test: t(self.field_value(u, c)))
        return matchers

    @route("GET", f"{ORG}/users")
    def list_users(self, req: SimRequest) -> SimResponse:
        statuses = {ACTIVE}
        if req.arg("userstatus"):
            names = [s.strip().lower() for s in (req.arg("userstatus") or "").split(",")]
            if any(n not in USER_STATUSES for n in names):
                raise bad_request("userstatus takes active, inactive and/or deleted.")
            statuses = {USER_STATUSES[n] for n in names}
        users = [u for u in self.store.users.values() if u.status in statuses]
        if req.arg("groupids"):
            ids = [g.strip() for g in (req.arg("groupids") or "").split(",")]
            if not all(g.isdigit() for g in ids):
                raise bad_request("groupids takes numeric group IDs separated by commas.")
            groups = [self.store.groups[int(g)] for g in ids if int(g) in self.store.groups]
            members = {m for group in groups for m in group.members}
            users = [u for u in users if u.id in members]
        matchers = self.search_matchers(req)
        users = [u for u in users if all(m(u) for m in matchers)]
        users = self.sorted_users(users, req, SORTABLE_USER_FIELDS)
        return self.page(req, [self.user_view(u) for u in users])

    @route("GET", f"{ORG}/users/{{user_id}}")
    def get_user(self, req: SimRequest) -> SimResponse:
        return json_response(200, self.user_view(self.user_from_path(req)))

    # ----- writes -----------------------------------------------------------------------

    def _hierarchy(
        self, values: Mapping[str, str | None], checked: ProfileInput
    ) -> tuple[Node, Node, Node] | None:
        """Resolve the triple (creating missing nodes only when the option says so);
        None, with the reason added to ``checked``, when it names no existing chain."""
        try:
            return self.store.resolve_hierarchy(values)
        except HierarchyError as exc:
            if not self.options.auto_create_hierarchy:
                checked.refuse(exc.code, str(exc))
                return None
        names = [str(values[c] or "") for c in HIERARCHY]
        region = self.store.region(names[0]) or self.store.add_node(None, 0, names[0])
        division = region.child(names[1]) or self.store.add_node(region, 1, names[1])
        department = division.child(names[2]) or self.store.add_node(division, 2, names[2])
        return region, division, department

    def _refuse(self, checked: ProfileInput) -> Reply:
        reasons = " ".join(e["Message"] for e in checked.errors)
        return bad_request(reasons, checked.errors)

    @route("POST", f"{ORG}/users")
    def create_user(self, req: SimRequest) -> SimResponse:
        body = req.json()
        if not isinstance(body, dict):
            raise bad_request('The body must be a JSON object with "userProfileData".')
        folded = {str(k).casefold(): v for k, v in body.items()}
        pairs = read_pairs(folded.get("userprofiledata"))
        if pairs is None:
            raise bad_request(
                'userProfileData is required: a list of {"Key": "F001", "Value": "John"} pairs.'
            )
        for flag in ("sendregistrationmail", "changepasswordatnextlogin"):
            value = folded.get(flag)
            if value is not None and value not in (True, False, "true", "false"):
                raise bad_request(f"{flag} takes true or false.")
        checked = check_profile(pairs, self.rules(), creating=True)
        hierarchy = None if checked.errors else self._hierarchy(checked.values, checked)
        if checked.errors or hierarchy is None:
            raise self._refuse(checked)
        user = ILMSUser(
            id=self.store.next_id("user", self.store.users, 517001),
            profile={},
            region_id=hierarchy[0].id,
            division_id=hierarchy[1].id,
            department_id=hierarchy[2].id,
            registered_at=self.now(),
            has_password=checked.password is not None,
        )
        apply_profile(user, checked.values, hierarchy)
        self.store.users[user.id] = user
        return created(f"{req.url.rstrip('/')}/{user.id}", user.id)

    @route("PUT", f"{ORG}/users/{{user_id}}")
    def update_user(self, req: SimRequest) -> SimResponse:
        user = self.user_from_path(req, writable=True)
        pairs = read_pairs(req.json())
        if pairs is None:
            raise bad_request(
                'The body must be a list of {"Key": "F001", "Value": "John"} pairs '
                "(no userProfileData wrapper on update)."
            )
        checked = check_profile(pairs, self.rules(), creating=False, stored=user.profile)
        given = [c for c in HIERARCHY if c in checked.values]
        hierarchy = None
        if 0 < len(given) < 3:
            if self.options.partial_hierarchy == "error":
                checked.refuse(
                    given[0],
                    "Region (F019), Division (F020) and Department (F021) must be passed together.",
                )
            for code in given:  # the document: a partial triple changes nothing
                del checked.values[code]
        elif len(given) == 3 and not checked.errors:
            hierarchy = self._hierarchy(checked.values, checked)
        if checked.errors:
            raise self._refuse(checked)
        apply_profile(user, checked.values, hierarchy)
        if checked.password is not None:
            user.has_password = True
        return no_content()

    @route("DELETE", f"{ORG}/users/{{user_id}}/Activate")
    def inactivate_user(self, req: SimRequest) -> SimResponse:
        self.user_from_path(req, writable=True).status = INACTIVE
        return no_content()

    @route("PUT", f"{ORG}/users/{{user_id}}/Activate")
    def activate_user(self, req: SimRequest) -> SimResponse:
        self.user_from_path(req, writable=True).status = ACTIVE
        return no_content()

    @route("DELETE", f"{ORG}/users/{{user_id}}")
    def delete_user(self, req: SimRequest) -> SimResponse:
        self.user_from_path(req, writable=True).status = DELETED
        return no_content()

    @route("DELETE", f"{ORG}/users/{{user_id}}/purge")
    def purge_user(self, req: SimRequest) -> SimResponse:
        user = self.user_from_path(req)
        del self.store.users[user.id]
        for group in self.store.groups.values():
            group.members.discard(user.id)
        for key in [k for k in self.store.enrollments if k[0] == user.id]:
            del self.store.enrollments[key]
        return no_content()

    # ----- transcripts ------------------------------------------------------------------

    @route("GET", f"{ORG}/users/{{user_id}}/transcripts")
    def user_transcripts(self, req: SimRequest) -> SimResponse:
        user = self.user_from_path(req)
        rows = sorted(
            (e for e in self.store.enrollments.values() if e.user_id == user.id),
            key=lambda e: (e.enrolled_at, e.course_id),
        )
        return json_response(200, [self.transcript_view(e) for e in rows])

    @route("GET", f"{ORG}/users/{{user_id}}/courses/{{course_id}}/transcripts")
    def user_course_transcript(self, req: SimRequest) -> SimResponse:
        user = self.user_from_path(req)
        course = self.course_from_path(req)
        enrollment = self.store.enrollments.get((user.id, course.id))
        if enrollment is None:
            return error(404, "The user has no transcript for this course.")
        return json_response(200, [self.transcript_view(enrollment)])
