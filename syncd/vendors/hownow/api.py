"""HowNow's External API as plain calls: one place for paths, identifiers and answers.

Everything HowNow-specific about the wire lives here (digest §0-§7): the
``/token`` OAuth flow (``ClientCredentialsAuth`` of ``syncd.http``), ``EXT-``/``ID-`` user
identifiers, ``per_page=100`` paging with ``meta.total_pages``, 201 answers
carrying a ``job_id``, and a job status that is HTTP 200 even when the job
failed. The adapter and the learning-record sink both talk through ``HowNowApi``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from syncd.http import (
    ClientCredentialsAuth,
    OutcomeUnknown,
    VendorClient,
    json_object,
    vendor_message,
)
from syncd.limits import Priority
from syncd.logs import Redactor
from syncd.vendors.client import VendorApi, vendor_client
from syncd.vendors.context import AdapterContext

log = structlog.get_logger(__name__)

VENDOR = "hownow"
USERS = "/external/v1/users"
USER = "/external/v1/users/{ref}"
UPSERT_USER = "/external/v1/users/upsert"
DEACTIVATE = "/external/v1/users/{ref}/deactivate"
REACTIVATE = "/external/v1/users/{ref}/reactivate"
DELETE = "/external/v1/users/{ref}/delete"
ASSIGNED_CONTENTS = "/external/v1/users/{ref}/assigned_contents"
JOB_STATUS = "/external/v1/jobs/{job_id}/status"
UPSERT_ENGAGEMENT = "/external/v1/contents/engagement/upsert"

PER_PAGE = 100  # the documented maximum (digest §3)
JOB_ERRORS_LIMIT = 1000  # a job's errors list every problem of its record: keep them all

ASSIGNEE_KEY = "assigned_external_user_id"
"""The heir of a leaver's content. The parameter tables say ``assigned_user_id``, but the
notes and every saved request that HowNow answered 200 send ``assigned_external_user_id``
with a prefixed value (``EXT-user_123``), so that is what syncd sends (digest §9 Q3)."""

# Job states (digest §5). Anything else is treated as still running.
IN_PROGRESS = "in_progress"
COMPLETED = "completed"
COMPLETED_WITH_WARNINGS = "completed_with_warnings"
FAILED = "failed"
UNKNOWN_JOB = "unknown_job"  # HowNow answered 404: it does not (or no longer) know the job
FINISHED = frozenset({COMPLETED, COMPLETED_WITH_WARNINGS, FAILED, UNKNOWN_JOB})


@dataclass(frozen=True, slots=True)
class JobStatus:
    """One answer of the job status endpoint; ``errors`` flattened to text (null, string, list)."""

    state: str
    errors: str | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


@dataclass(frozen=True, slots=True)
class Answer:
    """A synchronous call's status and HowNow's own words about it."""

    status: int
    message: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a paged listing."""

    items: list[dict[str, Any]]
    total_pages: int | None
    total_count: int | None = None

    def is_last(self, page: int) -> bool:
        if not self.items:
            return True
        if self.total_pages is not None:
            return page >= self.total_pages
        return len(self.items) < PER_PAGE


def user_ref(external_user_id: str) -> str:
    """The path identifier of a user syncd manages: always ``EXT-`` + its external_user_id.

    Always prefixed, even when the external id itself starts with ``EXT-`` or ``ID-``:
    HowNow splits the prefix at the first hyphen, so ``EXT-EXT-a`` names external id ``EXT-a``.
    """
    return f"EXT-{external_user_id}"


def hownow_auth(
    base_url: str, client_id: str, client_secret: str, **options: Any
) -> ClientCredentialsAuth:
    """HowNow: ``POST {base_url}/token``, form-encoded client credentials."""
    return ClientCredentialsAuth(
        f"{base_url.rstrip('/')}/token",
        client_id,
        client_secret,
        name=VENDOR,
        token_path="/token",
        client_auth="post",
        **options,
    )


def open_client(target: Any, context: AdapterContext) -> VendorClient:
    """A client whose calls share the credential's rate limit (every process, via the store).

    ``target`` needs ``base_url``, ``client_id``, ``client_secret`` (a SecretStr),
    ``timeout``, ``rate_limit`` and optionally ``x_user_id``.
    """
    auth = hownow_auth(target.base_url, target.client_id, target.client_secret.get_secret_value())
    # Q34: the collection marks Content-Type mandatory on every call, GETs included. The
    # token request is built by the auth flow itself and keeps its form encoding.
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    acting = getattr(target, "x_user_id", None)
    if acting:
        headers["X-User-Id"] = acting  # Q5: one admin acting identity on every call
    return vendor_client(
        VENDOR, target, context, auth=auth, credential_parts=(target.client_id,), headers=headers
    )


REFUSALS = frozenset(range(400, 500)) - {401, 408, 429}
"""Answers to a deactivate, reactivate or delete handed back to be settled by reading the
user: the wrong state ("already deactivated") has no documented status (Q24)."""


class HowNowApi(VendorApi):
    """The calls syncd makes, with HowNow's answers turned into plain values."""

    # --- asynchronous writes -------------------------------------------------------------------

    def upsert_user(self, body: Mapping[str, Any]) -> str:
        """Submit one user upsert; its job id. Keyed by external_user_id, so safe to re-send."""
        response = self.client.post(UPSERT_USER, json=dict(body), idempotent=True)
        return self._job_id(response, UPSERT_USER)

    def upsert_engagement(self, body: Mapping[str, Any]) -> str:
        """Submit one external learning record (a full overwrite, so safe to re-send)."""
        response = self.client.post(UPSERT_ENGAGEMENT, json=dict(body), idempotent=True)
        return self._job_id(response, UPSERT_ENGAGEMENT)

    def job_status(self, job_id: str) -> JobStatus:
        response = self.client.get(
            JOB_STATUS, path_params={"job_id": job_id}, priority=Priority.WRITE, accept={404}
        )
        if response.status_code == 404:
            return JobStatus(UNKNOWN_JOB, "HowNow does not know this job id")
        payload = json_object(response)
        state = payload.get("status")
        errors = _error_text(payload.get("errors"))
        if errors is not None:
            errors = Redactor(self.client.secrets()).redact_text(errors)[:JOB_ERRORS_LIMIT]
        return JobStatus(state.strip().lower() if isinstance(state, str) else IN_PROGRESS, errors)

    # --- users ---------------------------------------------------------------------------------

    def get_user(self, ref: str, priority: Priority | None = None) -> dict[str, Any] | None:
        """The user's details, or None when HowNow answers 404."""
        response = self.client.get(USER, path_params={"ref": ref}, accept={404}, priority=priority)
        if response.status_code == 404:
            return None
        data = json_object(response).get("data")
        return data if isinstance(data, dict) else None

    def list_users(self, page: int, priority: Priority | None = None) -> Page:
        """One page of the *active* users (deactivated ones are never listed)."""
        response = self.client.get(
            USERS, params={"page": page, "per_page": PER_PAGE}, priority=priority
        )
        return _page(response)

    def assigned_contents(self, ref: str, page: int) -> Page | None:
        """One page of a user's assigned contents, or None when the user is gone (404)."""
        response = self.client.get(
            ASSIGNED_CONTENTS,
            path_params={"ref": ref},
            params={"page": page, "per_page": PER_PAGE},
            accept={404},
        )
        if response.status_code == 404:
            return None
        return _page(response)

    def deactivate(self, ref: str, heir: str) -> Answer:
        return self._leave("PUT", DEACTIVATE, ref, heir)

    def delete(self, ref: str, heir: str) -> Answer:
        return self._leave("DELETE", DELETE, ref, heir)

    def reactivate(self, ref: str) -> Answer:
        return self._answer(self.client.put(REACTIVATE, path_params={"ref": ref}, accept=REFUSALS))

    # --- helpers -------------------------------------------------------------------------------

    def _job_id(self, response: httpx.Response, template: str) -> str:
        job_id = json_object(response).get("job_id")
        if isinstance(job_id, int | str) and str(job_id).strip():
            return str(job_id)
        # Q17: accepted means "2xx with a job_id". Without one the request may have been
        # acted on or not; the caller looks the record up before sending it again.
        raise OutcomeUnknown(
            f"hownow POST {template} answered HTTP {response.status_code} without a job_id"
        )

    def _leave(self, method: str, template: str, ref: str, heir: str) -> Answer:
        """A leaver deactivated or deleted, their content, groups and channels going to ``heir``."""
        response = self.client.request(
            method,
            template,
            path_params={"ref": ref},
            json={ASSIGNEE_KEY: heir},
            priority=Priority.DEPROVISION,
            accept=REFUSALS,
        )
        return self._answer(response)

    def _answer(self, response: httpx.Response) -> Answer:
        message, _ = vendor_message(response, self.client.secrets())
        return Answer(response.status_code, message)


def is_deactivated(user: Mapping[str, Any]) -> bool:
    """HowNow marks deactivated users ``status: Deactivated`` / ``state: disabled``."""
    status = str(user.get("status") or "").strip().lower()
    state = str(user.get("state") or "").strip().lower()
    return status == "deactivated" or state == "disabled"


def _page(response: httpx.Response) -> Page:
    payload = json_object(response)
    data = payload.get("data")
    items = [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []
    meta = payload.get("meta") if isinstance(payload.get("meta"), dict) else {}
    pages, count = meta.get("total_pages"), meta.get("total_count")
    return Page(
        items,
        pages if isinstance(pages, int) else None,
        count if isinstance(count, int) else None,
    )


def _error_text(value: Any) -> str | None:
    """Q18/Q19: ``errors`` is null, a string, a list or an object; kept as readable text."""
    if value is None:
        return None
    if isinstance(value, str):
        return " ".join(value.split()) or None
    if isinstance(value, list):
        parts = [text for item in value if (text := _error_text(item))]
        return "; ".join(parts) or None
    if isinstance(value, dict):
        parts = [f"{key}: {text}" for key, item in value.items() if (text := _error_text(item))]
        return "; ".join(parts) or None
    return str(value)
