"""Fault injection: the failures a reliable client must survive, on request.

Settings are given at start-up (``faults`` option) and changed at run time
(``POST /_sandbox/{vendor}/faults`` or ``Simulator.faults.update``). Counted
faults (``*_next``) are consumed one per request or job; shares (``*_rate``) are
drawn from the simulator's seeded random generator, so a run is reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from syncd.sandbox.clock import Clock

Share = float


class FaultSettings(BaseModel):
    """Every fault the sandbox can inject; all off by default."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    latency: float = Field(0.0, ge=0, description="seconds added to every answer")
    latency_jitter: float = Field(0.0, ge=0, description="extra random seconds, 0..jitter")
    error_rate: Share = Field(0.0, ge=0, le=1, description="share of requests answered 5xx")
    error_next: int = Field(0, ge=0, description="the next N requests are answered 5xx")
    error_status: int = Field(500, ge=500, le=599)
    refuse_next: int = Field(
        0, ge=0, description="the next N requests are refused, unprocessed, with the words below"
    )
    refuse_status: int = Field(409, ge=400, le=499)
    refuse_message: str = Field("Refused by a sandbox fault.", min_length=1)
    refuse_code: str | None = Field(None, description="error id, for vendors whose errors have one")
    storm_seconds: float = Field(0.0, ge=0, description="answer 429 to everything for N seconds")
    storm_requests: int = Field(0, ge=0, description="answer 429 to the next N requests")
    storm_retry_after: int | None = Field(None, ge=0, description="send Retry-After during storms")
    drop_rate: Share = Field(0.0, ge=0, le=1, description="share of connections closed unanswered")
    drop_next: int = Field(0, ge=0, description="close the next N connections unanswered")
    drop_after_processing: bool = Field(
        False, description="drops happen after the request took effect (a lost answer)"
    )
    answer_next: int = Field(
        0, ge=0, description="the next N requests get answer_status and answer_body, unprocessed"
    )
    answer_status: int = Field(200, ge=200, le=599)
    answer_body: Any = Field(
        None,
        description="JSON to answer; a string is sent as it is; '{request_body}' in a string "
        "becomes the request's body (a vendor echoing it)",
    )
    trickle: float = Field(
        0.0, ge=0, description="seconds between the bytes of an answer's body (a slow server)"
    )
    token_lifetime: float | None = Field(None, gt=0, description="seconds new tokens live")
    portal_inactive: bool = Field(
        False,
        description="TalentLMS: calls with a valid key get the documented 403 (API not enabled "
        "or domain inactive) until cleared; paths and methods narrow it",
    )
    job_fail_next: int = Field(0, ge=0, description="the next N jobs/tasks fail")
    job_warn_next: int = Field(0, ge=0, description="the next N jobs finish with warnings")
    job_fail_rate: Share = Field(0.0, ge=0, le=1)
    job_warn_rate: Share = Field(0.0, ge=0, le=1)
    job_fail_applied_share: Share = Field(
        0.0, ge=0, le=1, description="share of a failing task's items applied before it fails"
    )
    paths: list[str] | None = Field(
        None, description="vendor-relative path prefixes request faults apply to (None = all)"
    )
    methods: list[str] | None = Field(
        None, description="HTTP methods request faults apply to (None = all)"
    )


class FaultError(ValueError):
    """Fault settings that cannot be applied; the message names the key."""


RequestFaultKind = Literal["drop", "storm", "error", "refuse", "answer"]


@dataclass(frozen=True, slots=True)
class RequestFault:
    kind: RequestFaultKind | None
    latency: float = 0.0
    status: int = 500
    retry_after: int | None = None
    after_processing: bool = False
    message: str = ""  # a refusal's words
    code: str | None = None  # a refusal's error id
    body: Any = None  # the scripted answer's body ("answer")
    trickle: float = 0.0  # seconds between the bytes of the answer's body


JobOutcome = Literal["failed", "warned"]


class FaultInjector:
    """Decides, request by request and job by job, which fault (if any) applies."""

    def __init__(self, clock: Clock, rng: random.Random) -> None:
        self._clock = clock
        self._rng = rng
        self.settings = FaultSettings()
        self._storm_until = 0.0

    def update(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Merge ``changes`` into the settings; ``{"clear": true}`` first turns everything off."""
        changes = dict(changes)
        if changes.pop("clear", False):
            self.clear()
        merged = {**self.settings.model_dump(), **changes}
        try:
            self.settings = FaultSettings.model_validate(merged)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
            )
            raise FaultError(problems) from None
        if "storm_seconds" in changes:
            self._storm_until = self._clock.time() + self.settings.storm_seconds
        return self.snapshot()

    def clear(self) -> None:
        self.settings = FaultSettings()
        self._storm_until = 0.0

    def snapshot(self) -> dict[str, Any]:
        data = self.settings.model_dump()
        data["storm_remaining_seconds"] = round(max(0.0, self._storm_until - self._clock.time()), 3)
        return data

    def _applies(self, method: str, path: str) -> bool:
        prefixes, methods = self.settings.paths, self.settings.methods
        if methods is not None and method.upper() not in {m.upper() for m in methods}:
            return False
        return prefixes is None or any(path.startswith(p) for p in prefixes)

    def _draw(self, share: float) -> bool:
        return share > 0 and self._rng.random() < share

    def portal_refused(self, path: str, method: str) -> bool:
        """Whether the vendor refuses the whole portal for this request (``portal_inactive``)."""
        return self.settings.portal_inactive and self._applies(method, path)

    def decide(self, path: str, method: str = "GET") -> RequestFault:
        """The fault for one ``method`` request to ``path`` (consumes counted faults)."""
        s = self.settings
        if not self._applies(method, path):
            return RequestFault(None)
        latency = s.latency + (self._rng.uniform(0, s.latency_jitter) if s.latency_jitter else 0.0)
        if s.drop_next or self._draw(s.drop_rate):
            if s.drop_next:
                self.settings.drop_next = s.drop_next - 1
            return RequestFault("drop", latency, after_processing=s.drop_after_processing)
        if s.storm_requests or self._clock.time() < self._storm_until:
            if s.storm_requests:
                self.settings.storm_requests = s.storm_requests - 1
            return RequestFault("storm", latency, 429, s.storm_retry_after, trickle=s.trickle)
        if s.answer_next:
            self.settings.answer_next = s.answer_next - 1
            return RequestFault(
                "answer", latency, s.answer_status, body=s.answer_body, trickle=s.trickle
            )
        if s.error_next or self._draw(s.error_rate):
            if s.error_next:
                self.settings.error_next = s.error_next - 1
            return RequestFault("error", latency, s.error_status, trickle=s.trickle)
        if s.refuse_next:
            self.settings.refuse_next = s.refuse_next - 1
            return RequestFault(
                "refuse",
                latency,
                s.refuse_status,
                message=s.refuse_message,
                code=s.refuse_code,
                trickle=s.trickle,
            )
        return RequestFault(None, latency, trickle=s.trickle)

    def job_outcome(self) -> JobOutcome | None:
        """Whether a job created now is forced to fail or to finish with warnings."""
        s = self.settings
        if s.job_fail_next:
            self.settings.job_fail_next = s.job_fail_next - 1
            return "failed"
        if s.job_warn_next:
            self.settings.job_warn_next = s.job_warn_next - 1
            return "warned"
        if self._draw(s.job_fail_rate):
            return "failed"
        if self._draw(s.job_warn_rate):
            return "warned"
        return None
