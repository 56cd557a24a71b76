"""iLMS API calls of a pull cycle that reads only what moved, against reading every transcript.

Usage: python bench/ilms_pull_calls.py [--people 10000] [--courses 50] [--per-person 2]
                                       [--changed 0.01] [--sample 1000] [--no-write]

The built-in iLMS simulator runs in this process on loopback, seeded with ``--people``
learners enrolled in ``--per-person`` of ``--courses`` courses each, with mixed statuses
(half passed, a fifth in progress, the rest not started). The real iLMS adapter pulls
with a budget large enough to finish a round in one cycle; what the connector last
handed on (its ``ResultMemory``) is kept in memory here, as the state store would keep
it, and starts as the transcripts of the seed: the steady state after earlier cycles.

Rounds, each counted by the simulator's own recorder (method + path template):

1. a first round: the counts are not known yet, so every course is read through, but
   nothing moved, so no transcript is read;
2. ``--changed`` of the people move one enrollment each (start, pass, fail): the
   measured cycle. Its results are checked against the changes before it is believed;
3. nothing moved: the summary counts alone;
4. the daily recheck round (``results_recheck_every``): every course read through again;
5. the alternative, every transcript: the user listing and one transcript per person.
   The first ``--sample`` transcripts (1,000) are read and counted; every other person
   costs the same one call, so it is counted without being made (wall time and results
   are the sample's; ``--sample 0`` reads them all: minutes at 10,000 people).

Figures are printed and written to docs/benchmarks.md under "## iLMS pull calls".
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from common import calls_table, machine, stamp, write_section

from syncd.config.schema.targets import ILMSTarget
from syncd.logs import configure as configure_logs
from syncd.model import LearningResult
from syncd.sandbox import Sandbox
from syncd.vendors.context import AdapterContext
from syncd.vendors.ilms import ILMSAdapter
from syncd.vendors.ilms.api import USER_TRANSCRIPTS, USERS
from syncd.vendors.ilms.results import from_transcript
from syncd.vendors.pulling import PullOptions

LOGIN, KEY, ORG = "sandbox-ilms-login", "sandbox-ilms-key", "1001"
PER_MINUTE = 100_000_000  # limits out of the way: calls are counted, not waited for
TREE = {
    "regions": [
        {
            "name": "Acme",
            "divisions": [{"name": "Staff", "departments": [{"name": "Everyone"}]}],
        }
    ]
}
MOVES = {"Not Started": "In Progress", "In Progress": "Pass", "Pass": "Fail", "Fail": "Pass"}
PREFIX = "GET /organizations/{org_id}"


class Memory:
    """What the connector handed on, by result_id: the state store's part, in memory."""

    def __init__(self) -> None:
        self.results: dict[str, LearningResult] = {}

    def last_results(self, result_ids: Collection[str]) -> Mapping[str, LearningResult]:
        return {rid: self.results[rid] for rid in result_ids if rid in self.results}


@dataclass
class Round:
    title: str
    calls: Counter
    seconds: float
    results: int


def seed(sim: Any, args: argparse.Namespace, rnd: random.Random) -> list[tuple[int, str]]:
    """The organization; the (user, course) pairs enrolled."""
    courses = [
        {"id": f"C{n:07d}", "name": f"Course {n}", "type": "iComposer", "credits": "1"}
        for n in range(args.courses)
    ]
    users = [
        {
            "id": 100_000 + n,
            "profile": {
                "F001": f"First{n}",
                "F003": f"Last{n}",
                "F004": f"E{n:06d}",
                "F019": "Acme",
                "F020": "Staff",
                "F021": "Everyone",
            },
        }
        for n in range(args.people)
    ]
    pairs, enrollments = [], []
    for user in users:
        for course in rnd.sample(courses, args.per_person):
            draw = rnd.random()
            status = "Pass" if draw < 0.5 else "In Progress" if draw < 0.7 else "Not Started"
            score = rnd.randint(60, 100) if status == "Pass" else None
            pairs.append((user["id"], course["id"]))
            enrollments.append(
                {"user_id": user["id"], "course_id": course["id"], "status": status, "score": score}
            )
    sim.seed({**TREE, "courses": courses, "users": users, "enrollments": enrollments})
    return pairs


def handed_on_before(sim: Any) -> Memory:
    """The transcripts of the seed, as earlier cycles would have handed them on."""
    memory = Memory()
    with sim.lock:
        for enrollment in sim.store.enrollments.values():
            view = sim.transcript_view(enrollment)
            result = from_transcript(str(enrollment.user_id), view)
            assert result is not None
            memory.results[result.result_id] = result
    return memory


def adapter(base_url: str, memory: Memory, recheck: str | None) -> ILMSAdapter:
    target = ILMSTarget.model_validate(
        {
            "type": "ilms",
            "base_url": base_url,
            "org_id": ORG,
            "api_login_id": LOGIN,
            "transaction_key": KEY,
            "rate_limit": {"per_minute": PER_MINUTE},
            "results_recheck_every": recheck,
        }
    )
    context = AdapterContext("ilms", pull=PullOptions(budget_share=1.0), results=memory)
    return ILMSAdapter(target, context)


def requests(sim: Any) -> Counter:
    return Counter({endpoint: sum(by.values()) for endpoint, by in sim.counts().items()})


def pull_round(
    title: str, sim: Any, base_url: str, memory: Memory, cursor: Any, recheck: str | None
) -> tuple[Round, list[LearningResult], Any]:
    """One pull cycle (a whole round): its calls, the results it handed on, its cursor."""
    before, started = requests(sim), time.perf_counter()
    lms = adapter(base_url, memory, recheck)
    handed: list[LearningResult] = []
    try:
        for page in lms.pull(cursor):
            handed += page.results
            memory.results.update((r.result_id, r) for r in page.results)
            cursor = page.cursor
    finally:
        lms.close()
    assert cursor["queue"] is None, "the round did not finish in one cycle"
    spent = Round(title, requests(sim) - before, time.perf_counter() - started, len(handed))
    return spent, handed, cursor


def every_transcript(sim: Any, base_url: str, sample: int) -> Round:
    """The alternative: list every user, read each one's transcript. The first ``sample``
    transcripts are read; every other person costs the same one call, counted as such."""
    before, started = requests(sim), time.perf_counter()
    lms = adapter(base_url, Memory(), None)
    people = results = 0
    try:
        for page in lms.api.pages(USERS, params={"userstatus": "active,inactive"}):
            for user in page.items:
                people += 1
                if sample and people > sample:
                    continue
                answer = lms.api.read(USER_TRANSCRIPTS, path_params={"user_id": user["ID"]})
                assert isinstance(answer, list)
                results += len(answer)
    finally:
        lms.close()
    calls = requests(sim) - before
    calls[PREFIX + "/users/{user_id}/transcripts"] = people  # one each, read or not
    return Round("every transcript", calls, time.perf_counter() - started, results)


def move(sim: Any, pairs: list[tuple[int, str]], share: float, rnd: random.Random) -> dict:
    """``share`` of the people move one enrollment each; (user, course) -> the new status."""
    first_course: dict[int, str] = {}
    for user, course in pairs:
        first_course.setdefault(user, course)
    chosen = rnd.sample(sorted(first_course), max(1, round(len(first_course) * share)))
    moved: dict[tuple[str, str], str] = {}
    for user in chosen:
        course = first_course[user]
        with sim.lock:
            status = MOVES[sim.store.enrollments[(user, course)].status]
        score = None if status == "In Progress" else 75
        sim.complete(user, course, status=status, score=score)
        moved[(str(user), course)] = status
    return moved


def check_measured(handed: list[LearningResult], moved: dict) -> None:
    got = {(r.lms_user_id, r.course_id): r.status.value for r in handed}
    spelled = {"In Progress": "in_progress", "Pass": "passed", "Fail": "failed"}
    assert got == {key: spelled[status] for key, status in moved.items()}, "results differ"


def report(rounds: list[Round], args: argparse.Namespace, moved: dict) -> str:
    changed, courses = len(moved), len({course for _, course in moved})
    lines = [
        "## iLMS pull calls",
        "",
        f"`python bench/ilms_pull_calls.py --people {args.people} --courses {args.courses} "
        f"--per-person {args.per_person} --changed {args.changed} --sample {args.sample}`; "
        f"{machine()}; {stamp()}.",
        "",
        f"{args.people:,} people in {args.courses} courses, {args.per_person} enrollments each "
        f"({args.people * args.per_person:,} in all), half passed, a fifth in progress. "
        f"{changed} people ({args.changed:.0%}) then move one enrollment each. Calls counted by "
        "the iLMS simulator's recorder; the pull is the real adapter, with a budget that "
        "finishes a round in one cycle; the measured cycle's results were checked to be "
        "exactly the moved enrollments, with their new status. "
        + (
            f"Every transcript: the listing and the first {args.sample:,} transcripts were read "
            "(the wall time and results are theirs), each other person counted as the one "
            "call it costs."
            if 0 < args.sample < args.people
            else "Every transcript: all read."
        ),
        "",
        *calls_table(
            [r.title for r in rounds],
            [r.calls for r in rounds],
            shown=lambda endpoint: "GET " + endpoint.removeprefix(PREFIX),
        ),
    ]
    lines.append(
        "| **all calls** | " + " | ".join(f"**{sum(r.calls.values()):,}**" for r in rounds) + " |"
    )
    lines.append("| results handed on | " + " | ".join(f"{r.results:,}" for r in rounds) + " |")
    lines.append("| wall time | " + " | ".join(f"{r.seconds:.1f} s" for r in rounds) + " |")
    measured = sum(rounds[1].calls.values())
    baseline = sum(rounds[-1].calls.values())
    lines += [
        "",
        f"A pull cycle with {args.changed:.0%} changed costs **{measured:,} calls** against "
        f"**{baseline:,}** for reading every transcript ({baseline / measured:.0f} times "
        "fewer): the course listing, one summary report per course, the enrollment pages of "
        f"the courses whose counts moved ({changed} moves spread over {courses} of the "
        f"{args.courses} courses), and one transcript per person who moved. With "
        "nothing changed a cycle costs the listing and the summaries alone. The daily "
        "recheck round (`results_recheck_every`, for what counts cannot show) reads every "
        "course's enrollment pages, still no transcript of anyone who did not move.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--courses", type=int, default=50)
    parser.add_argument("--per-person", type=int, default=2)
    parser.add_argument("--changed", type=float, default=0.01)
    parser.add_argument(
        "--sample",
        type=int,
        default=1000,
        help="transcripts the every-transcript count reads (0: all); the rest cost one call each",
    )
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    configure_logs("json", "warning")
    rnd = random.Random(16)
    limits = {"per_minute": PER_MINUTE}
    options = {"rate_limits": False, "request_log_size": 100, "defaults": False}
    with Sandbox(vendors=["ilms"], ilms=limits, **options) as sandbox:
        sim, base_url = sandbox.sim("ilms"), sandbox.base_url("ilms")
        pairs = seed(sim, args, rnd)
        memory = handed_on_before(sim)
        first, handed, cursor = pull_round("first round", sim, base_url, memory, None, "1d")
        assert not handed, "nothing moved, yet results were handed on"
        moved = move(sim, pairs, args.changed, rnd)
        measured, handed, cursor = pull_round(
            f"{args.changed:.0%} changed", sim, base_url, memory, cursor, "1d"
        )
        check_measured(handed, moved)
        quiet, handed, cursor = pull_round("nothing changed", sim, base_url, memory, cursor, "1d")
        assert not handed
        recheck, handed, cursor = pull_round("recheck round", sim, base_url, memory, cursor, "0s")
        assert not handed
        baseline = every_transcript(sim, base_url, args.sample)
        rounds = [first, measured, quiet, recheck, baseline]
    section = report(rounds, args, moved)
    print(section)
    if not args.no_write:
        write_section(section)


if __name__ == "__main__":
    main()
