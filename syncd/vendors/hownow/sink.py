"""The ``hownow`` sink: learning results from other LMSs become HowNow learning records.

Each result is one ``POST /external/v1/contents/engagement/upsert`` (digest §6),
an asynchronous job polled until it ends. HowNow stores one record per person
and content and overwrites it whole, so sending a record again is harmless: a
batch is accepted only when every one of its jobs completed, and otherwise
``SinkError`` says which records failed and why; the pull engine then keeps its
cursor and the whole batch is sent again next cycle.

How a result is written:

- ``external_user_id``: the result's HR key (HowNow's users carry the HR key as
  their external_user_id, as the HowNow connector's mapping should make them);
- ``external_content_id``: the result's course id, which must be the external id
  of a content in HowNow;
- ``provider``: the LMS the result comes from ("TalentLMS", "iLMS", ...);
- ``completion_percentage``: the progress, 100 for completed, passed or waived
  results, 0 when the LMS gave none;
- ``enrollment_date`` (required by HowNow): the day the result started, else the
  day it was completed, else last updated, else the day syncd delivers it;
- ``completion_date``: the completion day for completed, passed or waived results
  (else its last update, else the delivery day), null otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import structlog
from pydantic import SecretStr

import syncd.vendors.hownow.api as hownow
from syncd.config.schema.rate_limits import RateLimitConfig
from syncd.config.schema.sinks import HowNowSinkConfig
from syncd.config.schema.targets import HOWNOW_RATE_LIMIT
from syncd.http import OutcomeUnknown, RecordRejected, VendorError, check_vendor_url
from syncd.model import LearningResult, ResultStatus
from syncd.polling import Backoff, WaitEnd, wait_for_jobs
from syncd.shutdown import ShuttingDown
from syncd.sink_protocol import SinkBase, SinkError, listed, result_label
from syncd.vendors.context import AdapterContext
from syncd.vendors.hownow.api import HowNowApi, JobStatus, open_client
from syncd.vendors.hownow.users import EXTERNAL_ID

log = structlog.get_logger(__name__)

PROVIDERS = {
    "talentlms": "TalentLMS",
    "hownow": "HowNow",
    "ilms": "iLMS",
    "learningpool": "Learning Pool",
}
COMPLETE = frozenset({ResultStatus.COMPLETED, ResultStatus.PASSED, ResultStatus.WAIVED})
BATCH = 25  # each record costs a submit and at least one poll: ~a minute of HowNow's budget


@dataclass(frozen=True, slots=True)
class SinkTarget:
    """The parts of a HowNow target the sink's client needs (HowNow's documented limits)."""

    base_url: str
    client_id: str
    client_secret: SecretStr
    timeout: float = 30.0
    deadline: float = 300.0
    rate_limit: RateLimitConfig = field(
        default_factory=lambda: RateLimitConfig.model_validate(HOWNOW_RATE_LIMIT)
    )
    x_user_id: str | None = None


@dataclass(frozen=True, slots=True)
class JobWait(Backoff):
    """How patiently the sink waits for its jobs before refusing the batch."""

    first_delay: float = 0.5
    max_delay: float = 10.0
    timeout: float = 300.0


def open_hownow_sink(
    name: str,
    cfg: HowNowSinkConfig,
    *,
    context: AdapterContext | None = None,
    wait: JobWait | None = None,
) -> HowNowSink:
    """The sink ``name`` of type hownow.

    ``context.limiter`` (the state store's, as ``syncd.assemble`` gives it) shares the
    HowNow credential's rate limit with every process, the HowNow connector's included;
    without a context the budget is this sink's alone.
    """
    try:
        base_url = check_vendor_url(cfg.base_url)
    except ValueError as error:
        raise SinkError(name, f"base_url: {error}") from None
    target = SinkTarget(base_url, cfg.client_id, cfg.client_secret)
    context = context or AdapterContext(connector=f"sink:{name}")
    api = HowNowApi(open_client(target, context))
    return HowNowSink(name, api, wait=wait)


class HowNowSink(SinkBase):
    max_batch = BATCH

    def __init__(
        self,
        name: str,
        api: HowNowApi,
        *,
        wait: JobWait | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], object] | None = None,  # None: until a stop
    ) -> None:
        self.name = name
        self.api = api
        self.wait = wait or JobWait()
        self._clock = clock
        self._sleep = sleep

    def write(self, results: Sequence[LearningResult]) -> None:
        today = self._clock().astimezone(UTC).date()
        latest: dict[tuple[str, str], tuple[LearningResult, dict[str, Any]]] = {}
        problems: list[str] = []
        for result in results:
            body, problem = engagement_body(result, today)
            if problem:
                problems.append(f"{result_label(result)}: {problem}")
            else:
                latest[body["external_user_id"], body["external_content_id"]] = (result, body)
        if problems:
            raise SinkError(self.name, listed("result(s) cannot be written to HowNow", problems))
        try:
            jobs = [(result, self.api.upsert_engagement(body)) for result, body in latest.values()]
            finished = self._await(jobs)
        except (VendorError, RecordRejected, OutcomeUnknown) as error:
            raise SinkError(self.name, f"HowNow did not take the batch: {error}") from error
        failures = []
        for (result, job_id), status in zip(jobs, finished, strict=True):
            detail = status.errors or "HowNow gave no reason"
            if status.state == hownow.COMPLETED_WITH_WARNINGS:
                log.warning(
                    "hownow_learning_record_warning",
                    sink=self.name,
                    hr_key=result.hr_key,
                    course_id=result.course_id,
                    job_id=job_id,
                    detail=detail,
                )
            elif status.state != hownow.COMPLETED:
                failures.append(f"{result_label(result)}: job {job_id} {status.state}: {detail}")
        if failures:
            raise SinkError(
                self.name,
                listed(f"of {len(jobs)} learning records failed in HowNow", failures)
                + "; the batch is sent again next cycle",
            )
        log.info("hownow_learning_records_written", sink=self.name, records=len(jobs))

    def _await(self, jobs: list[tuple[LearningResult, str]]) -> list[JobStatus]:
        statuses: dict[str, JobStatus] = {}

        def finished(job_id: str) -> bool:
            status = self.api.job_status(job_id)
            if status.finished:
                statuses[job_id] = status
            return status.finished

        waited = wait_for_jobs(
            [job_id for _, job_id in jobs], finished, self.wait, sleep=self._sleep
        )
        if waited.end is WaitEnd.STOPPED:
            raise ShuttingDown("stopping: shutdown requested")
        if waited.end is WaitEnd.TIMED_OUT:
            raise SinkError(
                self.name,
                f"{len(jobs) - len(statuses)} HowNow job(s) had not finished after "
                f"{self.wait.timeout:g}s; the batch is sent again next cycle",
            )
        return [statuses[job_id] for _, job_id in jobs]

    def close(self) -> None:
        self.api.close()


def engagement_body(result: LearningResult, today: date) -> tuple[dict[str, Any], str | None]:
    """HowNow's learning record for ``result``, or the reason it cannot be one."""
    hr_key = (result.hr_key or "").strip()
    if not hr_key:
        return {}, "has no HR key, so no HowNow external_user_id"
    if not EXTERNAL_ID.fullmatch(hr_key):
        return {}, (
            f"HR key {hr_key!r} cannot be a HowNow external_user_id (only letters, digits, _ and -)"
        )
    course = str(result.course_id or "").strip()
    if not course:
        return {}, "has no course id, so no HowNow external_content_id"
    complete = result.status in COMPLETE
    if result.progress is not None:
        percentage = round(min(100.0, max(0.0, float(result.progress))))
    else:
        percentage = 100 if complete else 0
    if complete:
        percentage = 100
    last_seen = _day(result.updated_at)
    body: dict[str, Any] = {
        "external_user_id": hr_key,
        "external_content_id": course,
        "provider": PROVIDERS.get(result.vendor, result.vendor),
        "completion_percentage": percentage,
        "enrollment_date": (
            _day(result.started_at) or _day(result.completed_at) or last_seen or today
        ).isoformat(),
        "completion_date": (
            (_day(result.completed_at) or last_seen or today).isoformat() if complete else None
        ),
    }
    spent = result.raw.get("time_spent") if result.raw else None
    if isinstance(spent, int) and not isinstance(spent, bool) and spent >= 0:
        body["time_spent"] = spent
    return body, None


def _day(value: datetime | None) -> date | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.date()


