"""Background tasks of the batch endpoints: one poll is one ``GET /tasks/:id``.

The documents show only the statuses ``created`` and ``completed`` and no per-item
result: every task example has ``download_url: null``, and what it would point at is
not documented (digest §7.5). So a finished task says only that it ended; which
items it applied is read back from the accounts (``readback``). Should a task carry
a ``download_url`` after all, its report is read as best effort, and only ever
adds detail to an item's error (``Task.detail``): it never decides an outcome.

A report URL on another host than the API (a pre-signed storage link) is read
without the API key: the key never leaves for a host it was not issued for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx
import structlog

from syncd.http import (
    BoundedTransport,
    RecordRejected,
    VendorClient,
    VendorError,
    is_loopback_host,
)
from syncd.limits import Priority
from syncd.vendors.talentlms.api import TASK, data_of

log = structlog.get_logger(__name__)

RUNNING = frozenset(
    {"created", "pending", "queued", "processing", "running", "in_progress", "started"}
)
FINISHED = frozenset({"completed", "failed"})
MISSING = "missing"  # the vendor no longer knows the task (404)


@dataclass(slots=True)
class ReportItem:
    index: int | None
    status: str  # succeeded | failed | skipped (or whatever the vendor says)
    errors: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)  # login/email or user_id/course_id

    @property
    def failed(self) -> bool:
        return self.status in ("failed", "error") or (bool(self.errors) and not self.skipped)

    @property
    def skipped(self) -> bool:
        return self.status in ("skipped", "not_processed", "pending")


@dataclass(slots=True)
class TaskReport:
    items: list[ReportItem]
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def find(self, index: int, values: Mapping[str, Any]) -> ReportItem | None:
        """The item naming these values (a report may reorder), else the one at ``index``."""
        wanted = {k: str(v).strip().casefold() for k, v in values.items() if v is not None}
        for item in self.items:
            shown = {k: str(item.values[k]).strip().casefold() for k in wanted if k in item.values}
            if wanted and shown == wanted:
                return item
        return next((item for item in self.items if item.index == index), None)


@dataclass(slots=True)
class Task:
    id: str
    status: str  # lower case; MISSING when the vendor answered 404
    processed: int | None = None
    download_url: str | None = None
    report: TaskReport | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED or self.status == MISSING

    @property
    def completed(self) -> bool:
        return self.status == "completed"

    def detail(self, index: int, **values: Any) -> str:
        """What a report says of one item's errors (``"; ..."``), or ``""``: never a verdict."""
        item = self.report.find(index, values) if self.report is not None else None
        if item is None or not item.errors:
            return ""
        return "; the task's report says: " + "; ".join(item.errors)


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, Mapping):
        for key in ("title", "message", "detail", "error"):
            if isinstance(value.get(key), str):
                return [value[key]]
        return []
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    return []


def parse_report(payload: Any) -> TaskReport | None:
    """The report's items, or None when it has no shape we can read."""
    if isinstance(payload, Mapping) and isinstance(payload.get("_data"), Mapping):
        payload = payload["_data"]
    if not isinstance(payload, Mapping) or not isinstance(payload.get("items"), list):
        return None
    items = []
    for position, raw in enumerate(payload["items"]):
        if not isinstance(raw, Mapping):
            continue
        index = raw.get("index")
        items.append(
            ReportItem(
                index=index if isinstance(index, int) and not isinstance(index, bool) else position,
                status=str(raw.get("status") or "").strip().lower(),
                errors=_texts(raw.get("errors")),
                values={k: raw[k] for k in ("login", "email", "user_id", "course_id") if k in raw},
            )
        )
    return TaskReport(
        items=items, warnings=_texts(payload.get("warnings")), errors=_texts(payload.get("errors"))
    )


class TaskPoller:
    """Reads a task's state, and its report once it has finished.

    Tasks are taken to finish in the order they were submitted: the documents say
    nothing, but the sandbox's tasks do and a vendor's queue would. So when the
    engine polls its waiting tasks in submission order, a task submitted after one
    that has just answered "still running" is not polled in that round (``waits``):
    with a hundred tasks in flight one poll per round stands for all of them. This
    only delays, never skips, a poll: the earlier task is polled every round, and
    once it has finished the next one is polled again.
    """

    def __init__(self, client: VendorClient, timeout: float, deadline: float = 300.0) -> None:
        self._client = client
        self._timeout = timeout
        self._deadline = deadline  # the whole-call bound of a report read on another host
        self._submitted: dict[str, int] = {}  # task id -> submission number (this adapter's)
        self._polled: dict[str, int] = {}  # task id -> number of its last poll
        self._running: set[str] = set()  # tasks whose last poll said "still running"
        self._polls = 0

    def submitted(self, task_id: str) -> None:
        self._submitted.setdefault(task_id, len(self._submitted))

    def waits(self, task_id: str) -> bool:
        """Whether an earlier task answered "still running" since this one was last polled."""
        mine = self._submitted.get(task_id)
        if mine is None:
            return False
        last = self._polled.get(task_id, -1)
        return any(
            self._submitted.get(other, mine) < mine and self._polled[other] > last
            for other in self._running
        )

    def settled(self, task_id: str) -> None:
        """The task's outcomes are known without polling it: it no longer holds others back."""
        self._running.discard(task_id)
        self._submitted.pop(task_id, None)
        self._polled.pop(task_id, None)

    def poll(self, task_id: str) -> Task:
        task = self._poll(task_id)
        self._polls += 1
        if task.finished:
            self.settled(task_id)
        else:
            self._running.add(task_id)
            self._polled[task_id] = self._polls
        return task

    def _poll(self, task_id: str) -> Task:
        response = self._client.get(
            TASK, path_params={"id": task_id}, priority=Priority.WRITE, accept={404}
        )
        if response.status_code == 404:
            log.warning("talentlms_task_missing", task_id=task_id)
            return Task(task_id, MISSING)
        data = data_of(response, "GET /tasks/{id}")
        data = data if isinstance(data, Mapping) else {}
        status = str(data.get("status") or "").strip().lower()
        processed = data.get("processed_items")
        task = Task(
            task_id,
            status,
            processed if isinstance(processed, int) else None,
            data.get("download_url") if isinstance(data.get("download_url"), str) else None,
        )
        if status not in RUNNING and status not in FINISHED:
            log.warning("talentlms_task_status_unknown", task_id=task_id, status=status[:40])
        if task.finished and task.download_url:
            task.report = self._report(task_id, task.download_url)
            if task.report is not None:
                for warning in task.report.warnings:
                    log.warning("talentlms_task_warning", task_id=task_id, warning=warning[:200])
        return task

    def _report(self, task_id: str, url: str) -> TaskReport | None:
        try:
            payload = self._fetch(url)
        except (VendorError, RecordRejected, httpx.HTTPError, ValueError) as error:
            log.warning(
                "talentlms_task_report_unreadable", task_id=task_id, error=type(error).__name__
            )
            return None
        report = parse_report(payload)
        if report is None:
            log.warning("talentlms_task_report_unreadable", task_id=task_id, error="shape")
        return report

    def _fetch(self, url: str) -> Any:
        parts = urlsplit(url)
        base = urlsplit(self._client.base_url)
        same_origin = (parts.scheme, parts.netloc) == (base.scheme, base.netloc)
        if same_origin:
            # Counted and rate limited like every API call; the query goes as params so
            # the logged path never carries a signature.
            address = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
            response = self._client.get(address, params=dict(parse_qsl(parts.query)))
            return response.json()
        host = parts.hostname or ""
        if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback_host(host)):
            raise ValueError("the task report is not on an https:// URL")
        bounded = BoundedTransport(self._deadline)
        with httpx.Client(timeout=self._timeout, follow_redirects=True, transport=bounded) as plain:
            response = plain.get(url)
            response.raise_for_status()
            return response.json()


def ordered(ops: Sequence[Any]) -> list[Any]:
    """Operations in the order their items were sent: by outbox id, else as given."""
    if all(getattr(op, "id", None) is not None for op in ops):
        return sorted(ops, key=lambda op: op.id)
    return list(ops)
