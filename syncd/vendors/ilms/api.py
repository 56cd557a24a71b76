"""iLMS wire conventions: paths, the credential headers, paging, answers and error reading.

Everything the digest lists as a wire quirk stays here (digest §1-§3, §9):

- every path sits under ``/organizations/{org_id}`` and every call carries the three
  credential headers ``APILoginID``, ``TransactionKey`` and ``OrgID``, set by
  ``ilms_auth`` so they are registered as secrets and never logged;
- lists are bare JSON arrays; paging is ``page``/``per_page`` driven by syncd's own
  page counter, never by the navigation headers, whose examples point at the wrong
  resource or a development host (Q2, Q3);
- a create answers 201 with the new id in ``Location`` (or the body);
- error bodies are undocumented (Q45): the vendor's words are read from ``Message``
  (any case), ``Errors`` and ``ModelState`` when present, else the plain text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from syncd.config.schema.targets import ILMSTarget
from syncd.http import (
    RecordRejected,
    StaticHeaderAuth,
    UnreachableError,
    VendorClient,
    excerpt,
    json_payload,
)
from syncd.limits import Priority
from syncd.model import Operation, Outcome
from syncd.vendors.client import VendorApi, vendor_client
from syncd.vendors.context import AdapterContext
from syncd.vendors.settle import Refused, StateWrite, settle

VENDOR = "ilms"
ORG = "/organizations/{org_id}"

USERS = f"{ORG}/users"
USER = f"{ORG}/users/{{user_id}}"
USER_ACTIVATE = f"{ORG}/users/{{user_id}}/Activate"  # DELETE deactivates, PUT activates (Q11)
GROUPS = f"{ORG}/groups"
GROUP_MEMBERS = f"{ORG}/groups/{{group_id}}/members"
GROUP_MEMBER = f"{ORG}/groups/{{group_id}}/members/{{user_id}}"
REGIONS = f"{ORG}/regions"
DIVISIONS = f"{ORG}/regions/{{region_id}}/divisions"
DEPARTMENTS = f"{ORG}/regions/{{region_id}}/divisions/{{division_id}}/departments"
COURSES = f"{ORG}/courses"
COURSE_ENROLLMENTS = f"{ORG}/courses/{{course_id}}/enrollments"
USER_TRANSCRIPTS = f"{ORG}/users/{{user_id}}/transcripts"
ENROLLMENTS_SUMMARY = f"{ORG}/reports/enrollmentssummary"  # ?courseid= (L4869-L4960)
CURRICULUM_ENROLLMENTS = f"{ORG}/curricula/{{course_id}}/enrollments"

PER_PAGE = 100  # the default and the safe size: the maximum is not documented (Q5)
LINKED_STATUSES = "active,inactive"  # listed active-only by default (Q7); deleted: never written

ERRORS_ACCEPTED = frozenset({400, 403, 404, 415})
"""Error answers read here, in iLMS's own words, instead of raising in the client."""


def ilms_auth(api_login_id: str, transaction_key: str, org_id: str) -> StaticHeaderAuth:
    """iLMS: ``APILoginID``, ``TransactionKey`` and ``OrgID`` headers, sent as given."""
    return StaticHeaderAuth(
        {
            "APILoginID": api_login_id,
            "TransactionKey": transaction_key,
            "OrgID": str(org_id),
            "Accept": "application/json",
        },
        secret_headers=["APILoginID", "TransactionKey"],
    )


def open_client(target: ILMSTarget, context: AdapterContext) -> VendorClient:
    """A client whose calls share the credential's rate limit (``target.rate_limit``).

    The limiter's windows come from ``target.rate_limit`` (default 60 a minute, since
    iLMS documents none), shared through the state store by every process.
    """
    login = target.api_login_id.get_secret_value()
    auth = ilms_auth(login, target.transaction_key.get_secret_value(), target.org_id)
    return vendor_client(
        VENDOR,
        target,
        context,
        auth=auth,
        credential_parts=(target.org_id, login),
        headers={"Content-Type": "application/json"},  # every call, bodiless PUTs too (§1.3)
    )


@dataclass(frozen=True, slots=True)
class Answer:
    """A write's status and iLMS's own words about it."""

    status: int
    message: str
    response: httpx.Response

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a bare-array listing."""

    number: int
    items: list[dict[str, Any]]
    total: int | None  # X-Total-Count, when sent
    per_page: int  # as asked; the server may serve fewer (its maximum is not documented)
    has_next: bool = False  # a "next" navigation header or Link rel="next" was sent
    navigates: bool = False  # any navigation header was sent (first, prev, next, last, Link)

    @property
    def is_last(self) -> bool:
        """Q2/Q6: the signs are read in turn and may each be missing. Navigation headers
        decide when there are any ("next" is absent on the last page, L5630-L5636); else
        ``X-Total-Count``, taking a page the server cut shorter than asked as the size of
        every page, so none is ever skipped."""
        if not self.items:
            return True
        if self.navigates:
            return not self.has_next
        if self.total is not None:
            return self.number * len(self.items) >= self.total
        return len(self.items) < self.per_page

    @property
    def pages(self) -> int | None:
        """How many pages the listing has, judged from this page and ``X-Total-Count``."""
        if self.total is None or not self.items:
            return None
        return max(1, -(-self.total // len(self.items)))


class ILMSApi(VendorApi):
    """The calls syncd makes, with iLMS's answers turned into plain values."""

    def __init__(self, client: VendorClient, org_id: str) -> None:
        super().__init__(client)
        self.org_id = org_id

    # --- reads ---------------------------------------------------------------------------------

    def page(
        self,
        template: str,
        number: int,
        *,
        params: Mapping[str, Any] | None = None,
        path_params: Mapping[str, Any] | None = None,
        priority: Priority | None = None,
        accept: frozenset[int] = frozenset(),
    ) -> Page | Answer:
        """Page ``number`` of a listing, or the error ``Answer`` for a status in ``accept``."""
        paged = {**dict(params or {}), "page": number, "per_page": PER_PAGE}
        response = self._get(template, paged, path_params, priority, accept)
        if isinstance(response, Answer):
            return response
        items = _array(response, template)
        return Page(
            number, items, _total(response), PER_PAGE, _has_next(response), _navigates(response)
        )

    def read(
        self,
        template: str,
        *,
        params: Mapping[str, Any] | None = None,
        path_params: Mapping[str, Any] | None = None,
        accept: frozenset[int] = frozenset(),
    ) -> list[dict[str, Any]] | Answer:
        """A bare array the document does not say is paged (transcripts, reports: Q6), in one
        call; or the error ``Answer`` for a status in ``accept``."""
        response = self._get(template, params, path_params, None, accept)
        return response if isinstance(response, Answer) else _array(response, template)

    def _get(
        self,
        template: str,
        params: Mapping[str, Any] | None,
        path_params: Mapping[str, Any] | None,
        priority: Priority | None,
        accept: frozenset[int],
    ) -> httpx.Response | Answer:
        response = self.client.get(
            template,
            path_params={"org_id": self.org_id, **dict(path_params or {})},
            params=dict(params or {}),
            priority=priority,
            accept=ERRORS_ACCEPTED | accept,
        )
        status = response.status_code
        if status >= 400 and status in accept:
            return self.answer(response)
        if status >= 400:  # in iLMS's words: the shared client cannot read its error bodies
            raise RecordRejected(status, self.explain(response), vendor=VENDOR)
        return response

    def pages(
        self,
        template: str,
        *,
        params: Mapping[str, Any] | None = None,
        path_params: Mapping[str, Any] | None = None,
        priority: Priority | None = None,
    ) -> Iterator[Page]:
        """Every page, in order; rows repeated across pages are left to the caller (Q3)."""
        number = 1
        while True:
            page = self.page(
                template, number, params=params, path_params=path_params, priority=priority
            )
            assert isinstance(page, Page)
            yield page
            if page.is_last:
                return
            number += 1

    def shows(
        self,
        template: str,
        user_id: str,
        id_of: Callable[[Mapping[str, Any]], Any],
        *,
        path_params: Mapping[str, Any],
        params: Mapping[str, Any] | None = None,
    ) -> bool | None:
        """Whether a listing of people (a group's members, a course's enrollments) shows
        ``user_id``, read at write priority to settle a write; None when iLMS refuses it."""
        try:
            for page in self.pages(
                template, params=params, path_params=path_params, priority=Priority.WRITE
            ):
                if any(str(id_of(item)) == user_id for item in page.items):
                    return True
        except RecordRejected:
            return None
        return False

    # --- writes --------------------------------------------------------------------------------

    def settle_write(
        self,
        op: Operation,
        method: str,
        template: str,
        *,
        path_params: Mapping[str, Any],
        json_body: Any,
        holds: Callable[[], bool | None],
        wanted: bool,
    ) -> Outcome | Refused[Answer]:
        """A membership or enrollment write, settled by ``holds`` (what iLMS's listing shows)
        whenever its answer is not a success or is lost (``syncd.vendors.settle``)."""
        return settle(
            op,
            StateWrite(
                send=lambda: self.send(
                    method,
                    template,
                    path_params=path_params,
                    json_body=json_body,
                    priority=Priority.WRITE,
                    idempotent=False,  # a lost answer is looked up, not sent blindly again
                ),
                holds=holds,
                wanted=wanted,
                accepted=lambda answer: answer.ok,
            ),
        )

    def send(
        self,
        method: str,
        template: str,
        *,
        path_params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        priority: Priority | None = None,
        idempotent: bool | None = None,
    ) -> Answer:
        """One write; 2xx, 409 and the ``ERRORS_ACCEPTED`` statuses come back as an Answer."""
        response = self.client.request(
            method,
            template,
            path_params={"org_id": self.org_id, **dict(path_params or {})},
            json=json_body,
            priority=priority,
            idempotent=idempotent,
            accept=ERRORS_ACCEPTED,
        )
        return self.answer(response)

    def answer(self, response: httpx.Response) -> Answer:
        message = "" if response.status_code < 300 else self.explain(response)
        return Answer(response.status_code, message, response)

    def explain(self, response: httpx.Response) -> str:
        """iLMS's reason for an error answer, secrets masked, cut to a readable length."""
        text = error_text(response) or response.reason_phrase or f"HTTP {response.status_code}"
        return excerpt(text, self.client.secrets())


def created_id(response: httpx.Response) -> str | None:
    """The new resource's id: the last segment of ``Location``, else a bare numeric body."""
    location = response.headers.get("location", "").strip().rstrip("/")
    if location:
        tail = location.rsplit("/", 1)[-1]
        if tail.isdigit():
            return tail
    try:
        body = json.loads(response.content) if response.content else None
    except ValueError:
        body = response.text.strip().strip('"')
    if isinstance(body, int) and not isinstance(body, bool):
        return str(body)
    if isinstance(body, str) and body.strip().isdigit():
        return body.strip()
    return None


def error_text(response: httpx.Response) -> str:
    """The reason an error answer gives: ``Message``, per-field ``Errors``, ``ModelState``."""
    try:
        payload = json.loads(response.content) if response.content else None
    except ValueError:
        text = response.text.strip()
        return "" if text.startswith("<") else text  # an HTML error page says nothing useful
    if isinstance(payload, str):
        return payload
    if isinstance(payload, list):
        return "; ".join(str(item) for item in payload if isinstance(item, str | int | float))
    if not isinstance(payload, dict):
        return ""
    folded = {str(key).casefold(): value for key, value in payload.items()}
    parts: list[str] = []
    for key in ("message", "error", "error_description", "detail", "title"):
        if isinstance(folded.get(key), str) and folded[key].strip():
            parts.append(folded[key].strip())
            break
    if not parts:
        parts += _field_errors(folded.get("errors"))
        parts += _field_errors(folded.get("modelstate"))
    return "; ".join(dict.fromkeys(parts))


def _field_errors(value: Any) -> list[str]:
    """``[{"Key": "F007", "Message": "…"}]`` or ``{"F007": ["…"]}`` as readable lines."""
    lines: list[str] = []
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                folded = {str(k).casefold(): v for k, v in item.items()}
                message = folded.get("message")
                if isinstance(message, str) and message.strip():
                    lines.append(message.strip())
            elif isinstance(item, str) and item.strip():
                lines.append(item.strip())
    elif isinstance(value, dict):
        for key, item in value.items():
            texts = item if isinstance(item, list) else [item]
            lines += [f"{key}: {t}" for t in texts if isinstance(t, str) and t.strip()]
    return lines


def _array(response: httpx.Response, template: str) -> list[dict[str, Any]]:
    """A listing's bare JSON array (Q27: every key optional, unknown ones ignored)."""
    payload = json_payload(response, f"ilms GET {template}", empty=[])
    if isinstance(payload, dict):  # a single object where an array was expected (Q25)
        payload = [payload]
    if not isinstance(payload, list):
        raise UnreachableError(f"ilms GET {template}: the answer is not a JSON array")
    return [item for item in payload if isinstance(item, dict)]


def _has_next(response: httpx.Response) -> bool:
    """A ``next`` header (as the examples show) or an RFC 8288 ``Link: <…>; rel="next"``.

    Only its presence is used: the URLs in the examples point at other resources (Q3).
    """
    if response.headers.get("next"):
        return True
    return any('rel="next"' in part or "rel=next" in part
               for part in response.headers.get("link", "").split(","))  # fmt: skip


def _navigates(response: httpx.Response) -> bool:
    return any(response.headers.get(name) for name in ("first", "prev", "next", "last", "link"))


def _total(response: httpx.Response) -> int | None:
    raw = response.headers.get("x-total-count", "").strip()
    return int(raw) if raw.isdigit() else None
