"""TalentLMS batch endpoints and the tasks that apply them over time.

``/batch/users`` and ``/batch/enrollments`` take at most 100 items and answer a
task. The task applies its items in order as its duration elapses; ``/tasks/:id``
reports ``created`` -> ``processing`` -> ``completed`` (or ``failed`` when a fault
says so). The vendor documents no per-item results (every task example has
``download_url: null``), so the sandbox serves none: an item it refuses (an email or
login taken, an unknown custom field, an enrollment into an inactive course, ...)
fails silently inside the task, and only reading the accounts back shows it. Batch
users matches existing users by ``id`` only and never reveals the ids it created.
"""

from __future__ import annotations

import string
from typing import Any

from syncd.sandbox.http import SimRequest, SimResponse, control, json_response, route
from syncd.sandbox.jobs import ItemResult, Job
from syncd.sandbox.talentlms.envelopes import bad_request, data, positive_int
from syncd.sandbox.talentlms.store import ACTIVE
from syncd.sandbox.talentlms.users import UsersApi
from syncd.sandbox.talentlms.validation import check_user

TASK_STATUS = {
    "pending": "created",
    "running": "processing",
    "finished": "completed",
    "failed": "failed",
}
_ID_ALPHABET = string.ascii_letters + string.digits


def _problem(error_id: str, title: str) -> dict[str, str]:
    return {"id": error_id, "title": title}


class BatchApi(UsersApi):
    def _task_id(self) -> str:
        while True:
            task_id = "".join(self.rng.choice(_ID_ALPHABET) for _ in range(8))
            if task_id not in self.jobs:
                return task_id

    def _batch_items(self, req: SimRequest, key: str, noun: str) -> list[Any]:
        body = req.json()
        items = body.get(key) if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            raise bad_request(f"Request body must be a non-empty array of {noun}' data")
        if len(items) > self.options.batch_limit:
            raise bad_request(
                f"The limit of items passed inside the body is {self.options.batch_limit}"
            )
        return items

    def _start_task(self, req: SimRequest, kind: str, items: list[Any], apply: Any) -> SimResponse:
        forced = self.faults.job_outcome()
        job = self.jobs.create(
            self._task_id(),
            kind,
            items,
            apply,
            duration=self.options.job_duration,
            forced=forced,
            fail_share=self.faults.settings.job_fail_applied_share,
            owner=req.credential,
        )
        return data({"id": job.id, "status": "created", "progress": 0, "download_url": None})

    # ----- endpoints ------------------------------------------------------------------

    @route("POST", "/api/v2/batch/users")
    def batch_users(self, req: SimRequest) -> SimResponse:
        items = self._batch_items(req, "users", "users")
        return self._start_task(req, "batch_users", items, self._apply_user)

    @route("POST", "/api/v2/batch/enrollments")
    def batch_enrollments(self, req: SimRequest) -> SimResponse:
        items = self._batch_items(req, "enrollments", "enrollments")
        return self._start_task(req, "batch_enrollments", items, self._apply_enrollment)

    @route("GET", "/api/v2/tasks")
    def task_without_id(self, req: SimRequest) -> SimResponse:
        raise bad_request("Task ID path parameter is required.")

    @route("GET", "/api/v2/tasks/{id}")
    def get_task(self, req: SimRequest) -> SimResponse:
        job = self.jobs.get(req.path_params["id"])
        if job is None or job.meta.get("forgotten"):
            return json_response(404, {"status_code": 404, "reason_phrase": "Not Found"})
        return data(self.task_view(job))

    def task_view(self, job: Job) -> dict[str, Any]:
        """A task as documented: no per-item results, ``download_url`` always null."""
        return {
            "id": job.id,
            "status": TASK_STATUS[job.state],
            "progress": job.progress(self.now()),
            "processed_items": job.applied,
            "download_url": None,
        }

    @control("POST", "/tasks/{id}/forget")
    def control_forget_task(self, req: SimRequest) -> SimResponse:
        """From now on ``GET /tasks/:id`` answers 404 (retention is not documented); the
        task itself goes on applying its items."""
        if not self.forget_task(req.path_params["id"]):
            return json_response(404, {"error": "no such task"})
        return json_response(200, {"forgotten": req.path_params["id"]})

    def forget_task(self, task_id: str) -> bool:
        with self.lock:
            job = self.jobs.get(task_id)
            if job is None:
                return False
            job.meta["forgotten"] = True
            return True

    # ----- applying items -------------------------------------------------------------

    def _apply_user(self, job: Job, index: int, item: Any) -> ItemResult:
        if not isinstance(item, dict):
            return ItemResult([_problem("bad_request", "Each user must be a JSON object")])
        detail = {k: item.get(k) for k in ("login", "email") if isinstance(item.get(k), str)}
        if "id" in item:
            user_id = positive_int(item["id"])
            if user_id is None:
                return ItemResult(
                    [_problem("bad_request", "User id must be a positive integer")], detail=detail
                )
            user = self.store.users.get(user_id)
            if user is None:
                return ItemResult(
                    [_problem("not_found.user_not_found", "User not found")], detail=detail
                )
            changes, problems = check_user(
                item, self.store, creating=False, user_id=user_id, custom_fields=True
            )
            if problems or changes is None:
                return ItemResult([_problem(*p) for p in problems], detail=detail)
            self.apply_changes(user, changes)
            return ItemResult(detail={**detail, "action": "updated"})
        changes, problems = check_user(
            item, self.store, creating=True, require_password=False, custom_fields=True
        )
        if problems or changes is None:
            return ItemResult([_problem(*p) for p in problems], detail=detail)
        self.new_user(changes)
        return ItemResult(detail={**detail, "action": "created"})

    def _apply_enrollment(self, job: Job, index: int, item: Any) -> ItemResult:
        if not isinstance(item, dict):
            return ItemResult([_problem("bad_request", "Each enrollment must be a JSON object")])
        detail = {"course_id": item.get("course_id"), "user_id": item.get("user_id")}
        course_id, user_id = positive_int(item.get("course_id")), positive_int(item.get("user_id"))
        if course_id is None:
            return ItemResult(
                [_problem("bad_request", "Course id must be a positive integer")], detail=detail
            )
        if user_id is None:
            return ItemResult(
                [_problem("bad_request", "User id must be a positive integer")], detail=detail
            )
        course = self.store.courses.get(course_id)
        if course is None:
            return ItemResult(
                [_problem("not_found.course_not_found", "Course not found")], detail=detail
            )
        if user_id not in self.store.users:
            return ItemResult(
                [_problem("not_found.user_not_found", "User not found")], detail=detail
            )
        if course.status != ACTIVE:
            return ItemResult(
                [_problem("conflict", "Course is archived or not available")], detail=detail
            )
        if (user_id, course_id) in self.store.enrollments:
            return ItemResult(detail={**detail, "action": "already_enrolled"})
        self.store.enroll(user_id, course_id, self.now())
        return ItemResult(detail={**detail, "action": "enrolled"})
