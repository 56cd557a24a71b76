"""The shared pieces a new vendor module builds on: routing, the request pipeline,
sliding-window limits and jobs that progress with the clock."""

from __future__ import annotations

from typing import ClassVar

from syncd.sandbox import ManualClock, Simulator
from syncd.sandbox.http import RouteSpec, SimRequest, SimResponse, json_response, route
from syncd.sandbox.jobs import ItemResult, Job, JobRegistry
from syncd.sandbox.ratelimit import SlidingWindowLimiter, Window


class EchoSimulator(Simulator):
    """A vendor in twenty lines: two routes, a key header, a limit of 3 per 10 s."""

    name: ClassVar[str] = "echo"

    def rate_limit_windows(self) -> list[Window]:
        return [Window("ten_seconds", 3, 10.0)]

    def authenticate(self, req: SimRequest, spec: RouteSpec) -> str | SimResponse:
        key = req.header("x-key")
        return key if key == "k" else json_response(401, {"error": "who are you"})

    @route("GET", "/things/special")
    def special(self, req: SimRequest) -> SimResponse:
        return json_response(200, {"special": True})

    @route("GET", "/things/{thing_id}")
    def thing(self, req: SimRequest) -> SimResponse:
        return json_response(200, {"id": req.path_params["thing_id"]})


def _get(sim: Simulator, path: str, key: str = "k") -> SimResponse:
    handled = sim.handle(SimRequest("GET", path, headers={"x-key": key}))
    assert handled.response is not None
    return handled.response


def test_routes_auth_limits_and_counters() -> None:
    clock = ManualClock(start=0)
    sim = EchoSimulator(clock=clock)
    assert _get(sim, "/things/special").body == {"special": True}  # literal beats template
    assert _get(sim, "/things/42/").body == {"id": "42"}  # a trailing slash is optional
    assert _get(sim, "/things/1", key="nope").status == 401  # refused calls cost nothing
    assert _get(sim, "/things/1").status == 200
    assert _get(sim, "/things/1").status == 429
    clock.advance(10)
    assert _get(sim, "/things/1").status == 200
    assert _get(sim, "/nothing").status == 404
    assert sim.handle(SimRequest("POST", "/things/1")).response.status == 405
    assert sim.counts()["GET /things/{thing_id}"] == {"200": 3, "401": 1, "429": 1}


def test_sliding_window_reports_remaining_and_retry_after() -> None:
    clock = ManualClock(start=100)
    limiter = SlidingWindowLimiter([Window("w", 2, 60)], clock)
    assert limiter.hit("a").remaining == {"w": 1}
    clock.advance(20)
    assert limiter.hit("a").allowed
    refused = limiter.hit("a")
    assert not refused.allowed and refused.exceeded == "w" and refused.retry_after == 40
    assert limiter.hit("b").allowed  # another credential has its own budget


def test_jobs_apply_items_in_order_as_time_passes() -> None:
    clock = ManualClock(start=0)
    registry = JobRegistry(clock)
    applied: list[int] = []

    def apply(job: Job, index: int, item: int) -> ItemResult:
        applied.append(item)
        return ItemResult(errors=["odd"] if item % 2 else [])

    job = registry.create("j1", "demo", [10, 11, 12, 13], apply, duration=8)
    registry.advance()
    assert (job.state, applied) == ("pending", [])
    clock.advance(4)
    registry.advance()
    assert (job.state, applied, job.progress(clock.time())) == ("running", [10, 11], 50)
    clock.advance(4)
    registry.advance()
    assert (job.state, applied) == ("finished", [10, 11, 12, 13])
    assert [i for i, _ in job.item_errors] == [1, 3]


def test_forced_failure_stops_at_the_applied_share() -> None:
    clock = ManualClock(start=0)
    registry = JobRegistry(clock)
    applied: list[int] = []
    job = registry.create(
        "j2",
        "demo",
        [1, 2, 3, 4],
        lambda j, i, x: applied.append(x) or ItemResult(),
        duration=1,
        forced="failed",
        fail_share=0.25,
    )
    clock.advance(5)
    registry.advance()
    assert (job.state, applied, job.progress(clock.time())) == ("failed", [1], 25)
