"""Reliability figures: `kill -9` at random moments and injected faults, against the sandbox.

Usage: python bench/reliability.py [--trials 50] [--chunked-trials 50]
                                   [--vendors talentlms hownow ilms learningpool]
                                   [--faults NAME ...] [--store sqlite|postgresql] [--json]
                                   [--no-write]

Kill matrix, per vendor: ``--trials`` runs of ``syncd sync``, push and pull in turn, each
SIGKILLed a random moment after the vendor answered its first call (up to 1 s for a push,
0.3 s for a pull). Before every run the HR file changes (hires, leavers, renamed people),
and before every pull some linked learners complete a course in the LMS. The same again
(``--chunked-trials``) with syncd's chunk sizes at ``CHUNKED`` (``tests/support/chunked.py``):
hires are then streamed a chunk at a time, the outbox written and resumed in batches, the
links' digests read in pages and results delivered in batches, as with thousands of people,
so a kill lands between chunks and batches too. Fault matrix, per vendor and fault: a push
and a pull under the fault, twice, with HR and learners changing.

Then each world is run to the end (push until nothing is left open, pull until it has
carried every completion) and judged by what the LMS and the HR sink hold:

- lost: an HR person the LMS lacks, holds inactive while HR says active, active while HR
  says they left, or under an old name; a completion the sink never received;
- duplicated: a second LMS account for one person; a completion delivered twice.

``operations`` counts what the worlds did: the outbox's operations and the results
delivered. Figures are printed and written to docs/reliability.md; ``--json`` prints one
JSON object instead (the CI test runs a small count that way).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from common import ROOT, machine, stamp
from push_cycle import Store
from sqlalchemy import func, select, update
from sqlalchemy.exc import SQLAlchemyError

from syncd.demo import MAPPINGS, SANDBOX_CREDENTIALS
from syncd.logs import configure as configure_logs
from syncd.sandbox import Clock, Sandbox
from syncd.state.db import connected, make_engine
from syncd.state.tables import delivered_results, links, operations
from tests.support import chunked as small_chunks
from tests.support.cli import entered_as, run_syncd
from tests.support.crash import (
    kill,
    open_operations,
    scalar,
    start_sync,
    sync_until_settled,
    wait_for_first_call,
)

REPORTS = {"sqlite": ROOT / "docs" / "reliability.md",
           "postgresql": ROOT / "docs" / "reliability-postgresql.md"}
STORE_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
VENDORS = ["talentlms", "hownow", "ilms", "learningpool"]
KILL_WINDOW = {"push": 1.0, "pull": 0.3}  # seconds after the first vendor call
JOB_SECONDS = 0.3  # how long a vendor job (TalentLMS task, HowNow upsert) takes
HR_COLUMNS = ["employee_id", "first_name", "last_name", "email", "department", "status",
              "job_title"]
DEPARTMENTS = ["Engineering", "Sales", "Finance"]
DONE = ("completed", "passed")
ROOMY = {"per_minute": 60_000, "per_hour": 3_600_000}
CHUNKED = 1  # every size tests/support/chunked.py sets: a person a chunk, a result a write

FAULTS: dict[str, dict[str, Any]] = {
    "5xx": {"error_rate": 0.3},
    "dropped connections": {"drop_rate": 0.2},
    "lost answers": {"drop_rate": 0.2, "drop_after_processing": True},
    "slow answers": {"latency": 0.2, "latency_jitter": 0.3},
    "429 storms": {"storm_seconds": 4, "storm_retry_after": 1},
    "token expiry": {"token_lifetime": 1.0},
    "failed jobs": {"job_fail_rate": 0.5},
    "hung jobs": {},  # jobs stand still until a manual clock moves (see FaultCell)
}
APPLIES: dict[str, set[str]] = {
    "token expiry": {"hownow", "learningpool"},  # the OAuth2 vendors; the others send keys
    "failed jobs": {"talentlms", "hownow"},  # the vendors whose writes are jobs
    "hung jobs": {"talentlms", "hownow"},
}


# ---------------------------------------------------------------------------------------------
# The LMS as the judge


def accounts(vendor: str, dump: dict[str, Any]) -> list[tuple[str, bool, str]]:
    """Every account as (HR key, active, surname) the way each vendor keeps them."""
    users = dump["users"]
    if vendor == "talentlms":
        return [(u["login"], u["status"] == "active", u["surname"]) for u in users]
    if vendor == "hownow":
        return [(u["external_user_id"], u["status"] in ("Active", "Invited"),
                 u["name"].rsplit(" ", 1)[-1]) for u in users]
    if vendor == "ilms":
        return [(u["profile"].get("F004", ""), u["status"] == "Active",
                 u["profile"].get("F003", "")) for u in users]
    return [(u.get("external_id") or "", u["status"] == "active", u["last_name"]) for u in users]


def complete(vendor: str, sim: Any, hr_key: str, remote_id: str, course: Any) -> None:
    """``hr_key`` (LMS id ``remote_id``) finishes ``course`` in the LMS."""
    if vendor == "hownow":
        sim.set_progress(f"EXT-{hr_key}", str(course), 100)
    else:
        sim.complete(int(remote_id), course, score=80)


def courses(vendor: str, dump: dict[str, Any]) -> list[Any]:
    return [c["id"] for c in dump["contents" if vendor == "hownow" else "courses"]]


# ---------------------------------------------------------------------------------------------
# One world: a sandbox, a state store, a configuration, HR and learners that change


@dataclass
class Tally:
    runs: int = 0
    killed: int = 0
    operations: int = 0
    lost: int = 0
    duplicated: int = 0
    results: int = 0  # completions made in the LMS, each to reach the sink once
    retried: int = 0  # failed operations an operator's `syncd retry` queued again
    streamed: int = 0  # pushes whose new people went in two chunks or more
    notes: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        for name in ("runs", "killed", "operations", "lost", "duplicated", "results", "retried",
                     "streamed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.notes += other.notes


class World:
    """One vendor's connector over a fresh sandbox and a fresh store of kind ``store``
    (``sqlite`` or ``postgresql``), in ``folder``."""

    def __init__(self, vendor: str, folder: Path, seed: int, store: str, *, clock: Any = None,
                 target: dict[str, Any] | None = None) -> None:
        self.vendor = vendor
        self.folder = folder
        self.rnd = random.Random(seed)
        with ExitStack() as started:  # a failure here stops what was started already
            # Rate limits are another benchmark's subject (bench/ratelimit.py); here they
            # would only stretch every run to the vendor's pace (iLMS, Learning Pool: 60/min).
            self.sandbox = started.enter_context(Sandbox(
                vendors=[vendor], job_duration=JOB_SECONDS, seed=seed, clock=clock,
                rate_limits=False))
            self.db_url = started.enter_context(Store(store, folder)).url
            self._started = started.pop_all()
        self.sim = self.sandbox.sim(vendor)
        self.sink = folder / "results.csv"
        self.config = self._write_config(target or {})
        self.people = [self._person(i) for i in range(40)]
        self.hired = len(self.people)
        self.completed: Counter[str] = Counter()  # HR key -> courses finished in the LMS
        self.finished: set[tuple[str, Any]] = set()
        self.write_hr()

    def _write_config(self, target: dict[str, Any]) -> Path:
        mapping = MAPPINGS[self.vendor]
        connector = {
            "name": self.vendor,
            "source": "hr",
            "schedule": {"every": "15m"},
            "target": {"type": self.vendor, "base_url": self.sandbox.base_url(self.vendor),
                       **SANDBOX_CREDENTIALS[self.vendor], "rate_limit": ROOMY, **target},
            **mapping,
            "guard": {"max_deactivations": "100%"},
            "pull": {"sink": "training", "budget_share": 1.0},
        }
        document = {
            "state": {"url": self.db_url},
            "log": {"format": "json", "level": "error"},
            "sources": {"hr": {"type": "csv", "path": str(self.folder / "hr.csv"),
                               "key": "employee_id"}},
            "sinks": {"training": {"type": "csv", "path": str(self.sink), "mode": "append"}},
            "connectors": [connector],
        }
        path = self.folder / "syncd.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        return path

    def _person(self, number: int) -> dict[str, str]:
        return {"employee_id": f"R{number:04d}", "first_name": f"Fn{number}",
                "last_name": f"Ln{number}x0", "email": f"r{number}@reliability.test",
                "department": self.rnd.choice(DEPARTMENTS), "status": "active",
                "job_title": "Analyst"}

    def __enter__(self) -> World:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._started.close()

    # -- HR and learners change

    def change_hr(self) -> None:
        """Some people are renamed or move; now and then two are hired and one leaves."""
        active = [p for p in self.people if p["status"] == "active"]
        for person in self.rnd.sample(active, min(4, len(active))):
            person["department"] = self.rnd.choice(DEPARTMENTS)
            stem, _, version = person["last_name"].rpartition("x")
            person["last_name"] = f"{stem}x{int(version) + 1}"
        if self.rnd.random() < 0.5:
            self.people += [self._person(self.hired), self._person(self.hired + 1)]
            self.hired += 2
        if self.rnd.random() < 0.3 and len(active) > 10:
            self.rnd.choice(active)["status"] = "terminated"
        self.write_hr()

    def write_hr(self) -> None:
        with (self.folder / "hr.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=HR_COLUMNS)
            writer.writeheader()
            writer.writerows(self.people)

    def learn(self, count: int) -> None:
        """``count`` linked, active learners each finish a course they had not finished."""
        linked = self._linked()
        leavers = {p["employee_id"] for p in self.people if p["status"] != "active"}
        offered = courses(self.vendor, self.sim.dump())
        pairs = [(key, course) for key in linked if key not in leavers for course in offered
                 if (key, course) not in self.finished]
        for key, course in self.rnd.sample(pairs, min(count, len(pairs))):
            complete(self.vendor, self.sim, key, linked[key], course)
            self.finished.add((key, course))
            self.completed[key] += 1

    def _linked(self) -> dict[str, str]:
        engine = make_engine(self.db_url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(select(links.c.hr_key, links.c.remote_id).where(
                    links.c.connector == self.vendor, links.c.remote_id.is_not(None)))
                return {key: remote for key, remote in rows}
        except SQLAlchemyError:  # no store yet: nobody is linked
            return {}
        finally:
            engine.dispose()

    # -- to the end, then judged

    def settle(self) -> int:
        """Push until nothing is left open, as an operator would: `syncd retry` what failed
        (a failed or given-up job) and push again; pull until every completion reached the
        sink. Returns how many operations `syncd retry` queued again."""
        code = self._push_until_settled()
        retried = 0
        if code != 0 or self._failed_operations():
            done = run_syncd("retry", self.vendor, "--config", str(self.config))
            queued = re.search(r"(\d+) failed operations", done.stdout)
            retried = int(queued.group(1)) if queued else 0
            self._push_until_settled()
        for _attempt in range(12):
            run_syncd("sync", self.vendor, "--direction", "pull", "--config", str(self.config),
                      timeout=600)
            if not self._missing_results():
                break
        return retried

    def _push_until_settled(self) -> int:
        """Push until nothing is open. An operation in doubt waits minutes before its
        automatic retry (the escrow): time is moved on by making such retries due now."""
        code = -1
        for _round in range(3):
            code, _ = sync_until_settled(self.config, self.vendor, self.db_url)
            if code == 0 and not open_operations(self.db_url):
                break
            with connected(self.db_url) as conn:
                conn.execute(
                    update(operations)
                    .where(operations.c.next_attempt_at.is_not(None))
                    .values(next_attempt_at=None)
                )
                conn.commit()
        return code

    def _failed_operations(self) -> int:
        query = select(func.count()).select_from(operations).where(operations.c.state == "failed")
        return scalar(self.db_url, query)

    def _delivered(self) -> tuple[Counter[str], int]:
        """Distinct finished courses per HR key in the sink, and rows beyond one per course."""
        rows = []
        if self.sink.exists():
            with self.sink.open(newline="") as handle:
                rows = [r for r in csv.DictReader(handle) if r["status"] in DONE]
        per_course = Counter((r["hr_key"], r["course_id"]) for r in rows)
        distinct = Counter(key for key, _course in per_course)
        return distinct, sum(n - 1 for n in per_course.values())

    def _missing_results(self) -> int:
        """Completions not in the sink, leavers' included (a push keeps theirs for the pull
        where the vendor stops showing them, as HowNow does)."""
        distinct, _ = self._delivered()
        return sum(max(0, n - distinct[key]) for key, n in self.completed.items())

    def conclude(self, tally: Tally) -> Tally:
        """``tally`` of the runs, with what settling the world took and what it found."""
        tally.retried = self.settle()
        tally.add(self.judge())
        return tally

    def judge(self) -> Tally:
        tally = Tally(operations=self._operations())
        held: dict[str, list[tuple[bool, str]]] = {}
        for key, active, surname in accounts(self.vendor, self.sim.dump()):
            held.setdefault(key, []).append((active, surname))
        for person in self.people:
            found = held.get(person["employee_id"], [])
            tally.duplicated += max(0, len(found) - 1)
            wanted = person["status"] == "active"
            right = any(active == wanted and (not wanted or surname == person["last_name"])
                        for active, surname in found)
            if not right and (wanted or found):
                tally.lost += 1
                tally.notes.append(f"{self.vendor} {person['employee_id']}: HR {person}, "
                                   f"LMS {found}")
        tally.lost += self._missing_results()
        tally.duplicated += self._delivered()[1]
        tally.results = sum(self.completed.values())
        return tally

    def _operations(self) -> int:
        return scalar(self.db_url, select(func.count()).select_from(operations)) + scalar(
            self.db_url, select(func.count()).select_from(delivered_results)
        )


# ---------------------------------------------------------------------------------------------
# The two matrices


def kill_trials(
    vendor: str, trials: int, folder: Path, seed: int, store: str, chunked: bool = False
) -> Tally:
    """``trials`` runs killed mid-cycle, then the world settled and judged. ``chunked``: every
    syncd process runs with its chunk sizes at ``CHUNKED`` (``tests.support.chunked``)."""
    entry = small_chunks.entry(CHUNKED) if chunked else ("-m", "syncd")
    seen = folder / "streamed-pushes"
    os.environ[small_chunks.SEEN] = str(seen)
    with World(vendor, folder, seed, store) as world, entered_as(*entry):
        tally = Tally()
        for trial in range(trials):
            direction = "push" if trial % 2 == 0 else "pull"
            world.change_hr()
            if direction == "pull":
                world.learn(3)
            calls = world.sim.count()
            process = start_sync(world.config, vendor, direction)
            wait_for_first_call(world.sim, calls, process)
            time.sleep(world.rnd.uniform(0.0, KILL_WINDOW[direction]))
            tally.killed += kill(process)
            tally.runs += 1
        world.conclude(tally)
    del os.environ[small_chunks.SEEN]
    tally.streamed = small_chunks.streamed_pushes(seen)
    return tally


def fault_cell(vendor: str, fault: str, folder: Path, seed: int, store: str) -> Tally:
    """Two rounds of push and pull under ``fault``, then the world settled and judged."""
    if fault == "hung jobs":
        return hung_jobs(vendor, folder, seed, store)
    with World(vendor, folder, seed, store) as world:
        world.sim.set_faults(FAULTS[fault])
        for _round in range(2):
            world.change_hr()
            _run(world, "push")
            world.learn(3)
            _run(world, "pull")
        world.sim.set_faults({"clear": True})
        return world.conclude(Tally(runs=4))


class HeldClock(Clock):
    """The sandbox's time: real, except while held, when it stands still (vendor jobs make no
    progress); released, it is real again at once (the jobs finish, late)."""

    def __init__(self) -> None:
        self.held_at: float | None = None

    def time(self) -> float:
        held_at = self.held_at
        return time.time() if held_at is None else held_at


def hung_jobs(vendor: str, folder: Path, seed: int, store: str) -> Tally:
    """Jobs that stand still past ``job_timeout`` (given up, reported), then finish late,
    after which ``syncd retry`` sends them again: nothing may be created twice."""
    clock = HeldClock()
    with World(vendor, folder, seed, store, clock=clock,
               target={"job_timeout": "2s"}) as world:
        clock.held_at = clock.time()
        _run(world, "push")  # its jobs never end while the clock stands still
        time.sleep(2.5)
        _run(world, "push")  # past job_timeout: given up and reported
        clock.held_at = None  # the vendor finishes them after all
        world.change_hr()
        return world.conclude(Tally(runs=2))


def _run(world: World, direction: str) -> None:
    run_syncd("sync", world.vendor, "--direction", direction, "--config", str(world.config),
              timeout=600)


def applies(fault: str, vendor: str) -> bool:
    return vendor in APPLIES.get(fault, {vendor})


# ---------------------------------------------------------------------------------------------
# Report


def report(kills: dict[str, Tally], chunked: dict[str, Tally],
           faults: dict[tuple[str, str], Tally], args: argparse.Namespace, note: str) -> str:
    lines = [
        "# Reliability" + (" on PostgreSQL" if args.store == "postgresql" else ""),
        "",
        f"Measured {stamp()} on {machine()} by `python bench/reliability.py --trials"
        f" {args.trials} --chunked-trials {args.chunked_trials} --store {args.store}` against"
        f" the built-in sandbox, on {STORE_NAMES[args.store]}." + (f" {note}" if note else ""),
        "",
        "**lost** counts HR people the LMS does not hold as HR says (missing, wrongly active"
        " or inactive, under an old name) and completions the HR sink never received;"
        " **duplicated** counts second LMS accounts of one person and completions delivered"
        " twice. Both must be 0. **operations** are the outbox's operations plus the results"
        " delivered.",
        "",
        "## kill -9",
        "",
        f"Each vendor: {args.trials} runs of `syncd sync`, push and pull in turn, each SIGKILLed"
        f" a random moment up to {KILL_WINDOW['push']:g} s (push) or {KILL_WINDOW['pull']:g} s"
        " (pull) after the vendor answered its first call; HR changes before every run and"
        " learners finish courses before every pull. Then the cycles run to the end.",
        "",
        *_kill_table(kills),
    ]
    if chunked:
        lines += ["", f"**In chunks of {CHUNKED}.** {args.chunked_trials} more runs per vendor,"
                  f" each syncd process started as `python tests/support/chunked.py {CHUNKED}`:"
                  " a push with two new people or more streams them a person a chunk, the"
                  " outbox is written a row at a time and resumed an operation a batch, the"
                  " links' digests are read a link a page, as a first sync of many thousands"
                  " and the cycles after it are; and a pull gives the sink a result a write."
                  " So a kill also lands between chunks, batches and deliveries. HowNow plans"
                  " whole (it orders managers before their reports), but writes and resumes"
                  " its outbox in batches like the others. Pushes that streamed their new"
                  f" people in two chunks or more and ran to the end of recording them:"
                  f" {sum(t.streamed for t in chunked.values())}.",
                  "", *_kill_table(chunked)]
    lines += ["", "**completions**: courses learners finished in the LMS, each to reach the HR"
              " sink once. **retried**: failed operations (a vendor job that failed or was given"
              " up) that an operator's `syncd retry` queued again, as README says to; they are"
              " lost only if they still fail after it. Leavers' completions count like anyone's:"
              " on a vendor that lists no deactivated user (HowNow, digest §4.1) the push reads"
              " a leaver's results just before closing the account and the pull delivers them.",
              "", "## Faults", "",
              "Each cell: two rounds of a push and a pull under the fault (set in the sandbox),"
              " HR and learners changing, then the fault cleared and the world run to the end."
              " `hung jobs`: vendor jobs stand still past `job_timeout` (2 s), are given up and"
              " reported, then finish late, and are looked up again by the automatic retry"
              " (its minutes of escrow are skipped by making it due: time passing, not an"
              " operator). `n/a`: the"
              " vendor has no such thing (no OAuth2 token, no asynchronous jobs).", "",
              "| fault | " + " | ".join(kills or VENDORS) + " |",
              "|---|" + "---|" * len(kills or VENDORS)]
    vendors = list(kills) or sorted({v for v, _ in faults})
    for fault in args.faults:
        cells = []
        for vendor in vendors:
            t = faults.get((vendor, fault))
            cells.append("n/a" if t is None else
                         f"{t.operations} ops, {t.retried} retried, lost {t.lost},"
                         f" dup {t.duplicated}")
        lines.append(f"| {fault} | " + " | ".join(cells) + " |")
    fault_total = Tally()
    for t in faults.values():
        fault_total.add(t)
    lines += ["", f"Faults in all: {len(faults)} cells, {fault_total.runs} runs under a fault,"
              f" {fault_total.operations} operations, lost {fault_total.lost}, duplicated"
              f" {fault_total.duplicated}.", ""]
    return "\n".join(lines)


def _kill_table(kills: dict[str, Tally]) -> list[str]:
    lines = ["| vendor | trials | killed mid-cycle | operations | completions | retried |"
             " lost | duplicated |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    total = Tally()
    for vendor, t in [*kills.items(), ("**all**", total)]:
        if vendor != "**all**":
            total.add(t)
        lines.append(f"| {vendor} | {t.runs} | {t.killed} | {t.operations} | {t.results} |"
                     f" {t.retried} | {t.lost} | {t.duplicated} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50, help="kill -9 runs per vendor")
    parser.add_argument("--chunked-trials", type=int, default=50,
                        help=f"kill -9 runs per vendor with chunk sizes of {CHUNKED}")
    parser.add_argument("--vendors", nargs="+", default=VENDORS, choices=VENDORS)
    parser.add_argument("--store", default="sqlite", choices=list(REPORTS),
                        help="each world's state store; PostgreSQL at SYNCD_BENCH_POSTGRES_URL,"
                        " a fresh schema a world (figures go to docs/reliability-postgresql.md)")
    parser.add_argument("--faults", nargs="*", default=list(FAULTS), choices=list(FAULTS))
    parser.add_argument("--note", default="", help="a sentence for the report (a reduced run)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--no-write", action="store_true", help="leave docs/reliability.md")
    args = parser.parse_args()
    configure_logs("console", "error", [])  # the sandbox in this process stays quiet

    kills: dict[str, Tally] = {}
    chunked: dict[str, Tally] = {}
    faults: dict[tuple[str, str], Tally] = {}
    with tempfile.TemporaryDirectory(prefix="syncd-reliability-") as scratch:
        root = Path(scratch)
        for number, vendor in enumerate(args.vendors):
            folder = root / f"{vendor}-kills"
            folder.mkdir()
            kills[vendor] = kill_trials(vendor, args.trials, folder, 100 + number, args.store)
            _progress(f"{vendor}: kill -9", kills[vendor], args.json)
            if args.chunked_trials:
                folder = root / f"{vendor}-chunked-kills"
                folder.mkdir()
                chunked[vendor] = kill_trials(vendor, args.chunked_trials, folder, 300 + number,
                                              args.store, chunked=True)
                _progress(f"{vendor}: kill -9 in chunks", chunked[vendor], args.json)
            for index, fault in enumerate(args.faults):
                if not applies(fault, vendor):
                    continue
                folder = root / f"{vendor}-{index}"
                folder.mkdir()
                faults[(vendor, fault)] = fault_cell(vendor, fault, folder, 200 + index, args.store)
                _progress(f"{vendor}: {fault}", faults[(vendor, fault)], args.json)

    if args.json:
        print(json.dumps({
            "kills": {v: _figures(t) for v, t in kills.items()},
            "chunked": {v: _figures(t) for v, t in chunked.items()},
            "faults": {f"{v}/{f}": _figures(t) for (v, f), t in faults.items()},
        }))
        return
    text = report(kills, chunked, faults, args, args.note)
    print(text)
    if not args.no_write:
        REPORTS[args.store].write_text(text)


def _figures(tally: Tally) -> dict[str, Any]:
    return {"runs": tally.runs, "killed": tally.killed, "operations": tally.operations,
            "results": tally.results, "retried": tally.retried, "streamed": tally.streamed,
            "lost": tally.lost,
            "duplicated": tally.duplicated,
            "notes": tally.notes[:10]}


def _progress(what: str, tally: Tally, quiet: bool) -> None:
    if not quiet:
        print(f"{what}: {json.dumps(_figures(tally))}", flush=True)


if __name__ == "__main__":
    main()
