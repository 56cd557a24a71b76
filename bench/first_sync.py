"""First-sync benchmark: a whole ``syncd sync`` process planning and recording everyone.

Usage: python bench/first_sync.py [--sizes 100000 1000000] [--stores sqlite postgresql]
       [--no-write] [--resume [--resume-until 10001]]

Each figure is one whole ``syncd sync bench --direction push`` process over an empty
state store and an empty TalentLMS sandbox: start-up, reading the CSV, rendering,
the guard's count, the diff, and writing every operation to the outbox. The vendor
side is left out on purpose: the process is sent SIGTERM as soon as it logs
``push_planned`` (the outbox is written and committed), so it stops before the first
batch is sent, as a shutdown does, leaving the outbox for the next cycle. The time is
from the command to that log line; the peak is the process's max RSS over its whole
life, and its CPU time (user + system) is given beside the time, since only CPU
times compare on a shared machine. The outbox is then counted, to show every operation was recorded.

With ``--resume``, each size measures instead the cycle that resumes such an outbox: a
first sync (its mapping given a password, a write-only field) is stopped as above once
recorded, then a second ``syncd sync`` process resumes it against the sandbox and is sent
SIGTERM once ``--resume-until`` operations of the outbox are no longer pending (polled in
the store every 0.2 s). The peak is that second process's max RSS over its whole life.

PostgreSQL is used when ``SYNCD_BENCH_POSTGRES_URL`` answers (see ``push_cycle``).
Figures go to docs/benchmarks.md, "## First sync" (printed only with ``--resume``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from common import machine, stamp, write_section
from push_cycle import (
    CONNECTOR,
    SYNCD,
    Store,
    postgres_cpu,
    prepared,
    sizes_and_stores,
    write_csv,
)

PUSH = ["sync", "bench", "--direction", "push"]

PROBE = """
import json, os, resource, signal, subprocess, sys, time
started = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
planned = None
tail = []
for line in child.stderr:
    tail = (tail + [line])[-5:]
    if planned is None and '"push_planned"' in line:
        planned = time.perf_counter() - started
        child.send_signal(signal.SIGTERM)
rc = child.wait()
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"planned_s": planned, "total_s": time.perf_counter() - started,
                  "cpu_s": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss / 1024,
                  "rc": rc, "tail": "".join(tail)[-800:]}))
"""


RESUME_PROBE = """
import json, resource, signal, subprocess, sys, threading, time
from sqlalchemy import create_engine, text
url, until, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
engine = create_engine(url)
started = time.perf_counter()
child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
marks = {"resume_logged_s": None, "first_finished_s": None, "cut_s": None, "finished": 0,
         "peak_at_cut_mb": None}
tail = []

FINISHED = "('done', 'failed', 'sent', 'unknown', 'waiting')"  # through the state index
COUNT = text(f"SELECT count(*) FROM operations WHERE state IN {FINISHED}")

def finished():
    with engine.connect() as conn:
        return conn.execute(COUNT).scalar()

def high_water():  # the child's peak RSS so far (VmHWM), in MB
    with open(f"/proc/{child.pid}/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024

def watch():
    while child.poll() is None:
        done = finished()
        if done and marks["first_finished_s"] is None:
            marks["first_finished_s"] = time.perf_counter() - started
        if done >= until and marks["cut_s"] is None:
            marks["cut_s"] = time.perf_counter() - started
            marks["peak_at_cut_mb"] = high_water()
            child.send_signal(signal.SIGTERM)
        time.sleep(0.2)

threading.Thread(target=watch, daemon=True).start()
for line in child.stderr:
    tail = (tail + [line])[-5:]
    if marks["resume_logged_s"] is None and '"outbox_resume"' in line:
        marks["resume_logged_s"] = time.perf_counter() - started
rc = child.wait()
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
marks["finished"] = finished()
print(json.dumps({**marks, "total_s": time.perf_counter() - started,
                  "cpu_s": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss / 1024,
                  "rc": rc, "tail": "".join(tail)[-800:]}))
"""


def first_sync(config: str) -> dict:
    """One ``syncd sync`` of everyone, stopped once its outbox is written."""
    argv = [*SYNCD, *PUSH, "--config", config]
    server = postgres_cpu()
    out = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True)
    figures = {**json.loads(out.stdout), "server_cpu_s": postgres_cpu() - server}
    if figures["planned_s"] is None:
        raise SystemExit(f"{' '.join(argv)} never logged push_planned: {figures['tail']}")
    return figures


def resumed(config: str, state_url: str, until: int) -> dict:
    """A second ``syncd sync`` resuming the outbox ``first_sync`` left, cut short once
    ``until`` of its operations are finished."""
    argv = [*SYNCD, *PUSH, "--config", config]
    out = subprocess.run(
        [sys.executable, "-c", RESUME_PROBE, state_url, str(until), *argv],
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise SystemExit(f"the resume probe failed: {out.stderr[-2000:]}")
    figures = json.loads(out.stdout)
    if figures["resume_logged_s"] is None:
        raise SystemExit(f"{' '.join(argv)} never logged outbox_resume: {figures['tail']}")
    return figures


def logged_at_info(config: Path) -> None:
    """The configuration logging ``push_planned`` (info), which the probe waits for."""
    import yaml

    document = yaml.safe_load(config.read_text())
    document["log"]["level"] = "info"
    config.write_text(yaml.safe_dump(document))


def outbox_rows(state_url: str) -> dict[str, int]:
    """Operations recorded, by kind, and the people they are for."""
    from sqlalchemy import func, select

    from syncd.state.db import make_engine
    from syncd.state.tables import operations

    engine = make_engine(state_url)
    with engine.connect() as conn:
        kinds = dict(conn.execute(select(operations.c.kind, func.count()).group_by("kind")).all())
        people = conn.execute(select(func.count(operations.c.hr_key.distinct()))).scalar_one()
    engine.dispose()
    return {**kinds, "people": people}


@contextmanager
def recorded(rows: int, kind: str, workdir: Path) -> Iterator[tuple[str, str, dict]]:
    """A fresh store of ``kind`` holding a first sync of ``rows`` people, planned, recorded
    and stopped before sending: its configuration, its URL and the first sync's figures."""
    csv_path = workdir / f"hr-{rows}.csv"
    if not csv_path.exists():
        write_csv(csv_path, rows)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp, Store(kind, Path(tmp)) as store:
        config = prepared(Path(tmp), csv_path, store.url)
        logged_at_info(Path(config))
        yield config, store.url, first_sync(config)


def run_size(rows: int, kind: str, workdir: Path) -> dict:
    with recorded(rows, kind, workdir) as (_config, url, figures):
        figures["outbox"] = outbox_rows(url)
    print(
        f"  {rows:>9,} {kind:<10} planned+recorded {figures['planned_s']:7.1f} s "
        f"(process CPU {figures['cpu_s']:.1f} s), peak {figures['peak_mb']:5.0f} MB, "
        f"outbox {figures['outbox']}",
        flush=True,
    )
    return figures


def run_resume(rows: int, kind: str, workdir: Path, until: int) -> dict:
    with recorded(rows, kind, workdir) as (config, url, first):
        outbox = outbox_rows(url)
        figures = resumed(config, url, until)
    figures["outbox"] = outbox
    figures["recorded_peak_mb"] = first["peak_mb"]
    print(
        f"  {rows:>9,} {kind:<10} outbox {sum(outbox.values()) - outbox['people']:,} ops | "
        f"resume logged {figures['resume_logged_s']:.1f} s, first op finished "
        f"{figures['first_finished_s'] or float('nan'):.1f} s, cut at "
        f"{figures['cut_s'] or float('nan'):.1f} s with {figures['finished']:,} finished "
        f"(CPU {figures['cpu_s']:.1f} s), peak until the cut "
        f"{figures['peak_at_cut_mb'] or float('nan'):.0f} MB, "
        f"whole life {figures['peak_mb']:.0f} MB",
        flush=True,
    )
    return figures


def resume_report(results: dict[tuple[int, str], dict], until: int) -> str:
    lines = [
        f"Resume (`bench/first_sync.py --resume --resume-until {until}`), {stamp()}, "
        f"{machine()}; the mapping above plus a password (write-only). A first sync is "
        "recorded and stopped before sending, as above; a second `syncd sync` process then "
        "resumes its outbox against the TalentLMS sandbox and is sent SIGTERM once "
        f"{until:,} operations of the outbox are finished (polled in the store every 0.2 s).",
        "",
        "| people | store | open operations | `outbox_resume` logged | first operation "
        "finished | cut at (finished) | peak until the cut | process CPU | peak, whole life |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (rows, kind), f in results.items():
        outbox = dict(f["outbox"])
        outbox.pop("people")
        lines.append(
            f"| {rows:,} | {kind} | {sum(outbox.values()):,} | {f['resume_logged_s']:.1f} s "
            f"| {f['first_finished_s'] or float('nan'):.1f} s "
            f"| {f['cut_s'] or float('nan'):.1f} s ({f['finished']:,}) "
            f"| {f['peak_at_cut_mb'] or float('nan'):.0f} MB "
            f"| {f['cpu_s']:.1f} s | {f['peak_mb']:.0f} MB |"
        )
    return "\n".join([*lines, ""])


def report(results: dict[tuple[int, str], dict]) -> str:
    load = os.getloadavg()
    lines = [
        "## First sync",
        "",
        f"`bench/first_sync.py`, {stamp()}, {machine()}; load average {load[0]:.1f} "
        f"(15 min: {load[2]:.1f}) at the end. The machine was shared with other busy "
        "processes while this ran, so times are upper bounds; peak memory does not depend on "
        "load. Synthetic HR CSV and the TalentLMS mapping of `bench/push_cycle.py` "
        "(4 fields, a mapped group, a conditional enrollment; 10% terminated, not created; "
        "5% out of scope).",
        "",
        "What a figure covers: one whole `syncd sync bench --direction push` process over an "
        "empty state store, from the command to the `push_planned` log line, that is start-up, "
        "reading and rendering the CSV, the guard's count, the diff, and every operation "
        "written to the outbox (committed). The process is then sent SIGTERM, so it stops as "
        "a shutdown does, before the first batch goes to the vendor: sending is not timed. "
        "Peak = that process's max RSS over its whole life; process CPU = its user + system "
        "time over its whole life (the few operations sent before SIGTERM lands included); "
        "on PostgreSQL, the server's processes' CPU over the same run is given beside it "
        "(the database's share of the work; other clients' too, if any).",
        "",
        "| people | store | planned + recorded | process CPU | server CPU | peak "
        "| operations recorded | people in outbox |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for (rows, kind), f in results.items():
        outbox = dict(f["outbox"])
        people = outbox.pop("people")
        server = f"{f['server_cpu_s']:.1f} s" if kind == "postgresql" else "-"
        lines.append(
            f"| {rows:,} | {kind} | {f['planned_s']:.1f} s | {f['cpu_s']:.1f} s "
            f"| {server} | {f['peak_mb']:.0f} MB "
            f"| {sum(outbox.values()):,} | {people:,} |"
        )
    lines += [
        "",
        "Targets (issue: performance, point 2): a first sync of 1,000,000 people peaks at "
        "≤ 500 MB, and planning and recording take ≤ 120 s. Where a row misses one, it is "
        "not met yet.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resume", action="store_true", help="measure the resuming cycle")
    parser.add_argument(
        "--resume-until",
        type=int,
        default=10_001,
        help="operations finished when the resume is cut (the default is the creates and a "
        "first batch of memberships: past it TalentLMS's hourly limit makes the resume wait)",
    )
    args, stores = sizes_and_stores(parser)
    from syncd.sandbox import Sandbox

    results = {}
    CONNECTOR["guard"] = {"max_deactivations": "100%"}
    if args.resume:
        CONNECTOR["users"]["fields"]["password"] = "Initial-{{ employee_id }}-Pa55word!"
    with tempfile.TemporaryDirectory() as tmp:
        for rows in args.sizes:
            for kind in stores:
                # A sandbox each: a run's calls must not spend the next one's rate limit.
                with Sandbox(vendors=["talentlms"]) as sandbox:
                    CONNECTOR["target"]["base_url"] = sandbox.base_url("talentlms")
                    if args.resume:
                        figures = run_resume(rows, kind, Path(tmp), args.resume_until)
                    else:
                        figures = run_size(rows, kind, Path(tmp))
                results[(rows, kind)] = figures
    if args.resume:
        print(resume_report(results, args.resume_until))
        return
    section = report(results)
    print(section)
    if not args.no_write:
        write_section(section)


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    main()
