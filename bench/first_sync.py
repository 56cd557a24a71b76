"""First-sync benchmark: a whole ``syncd sync`` process planning and recording everyone.

Usage: python bench/first_sync.py [--sizes 100000 1000000] [--stores sqlite postgresql]
       [--no-write]

Each figure is one whole ``syncd sync bench --direction push`` process over an empty
state store and an empty TalentLMS sandbox: start-up, reading the CSV, rendering,
the guard's count, the diff, and writing every operation to the outbox. The vendor
side is left out on purpose: the process is sent SIGTERM as soon as it logs
``push_planned`` (the outbox is written and committed), so it stops before the first
batch is sent, as a shutdown does, leaving the outbox for the next cycle. The time is
from the command to that log line; the peak is the process's max RSS over its whole
life, and its CPU time (user + system) is given beside the time, since only CPU
times compare on a shared machine. The outbox is then counted, to show every operation was recorded.

PostgreSQL is used when ``SYNCD_BENCH_POSTGRES_URL`` answers (see ``push_cycle``).
Figures go to docs/benchmarks.md, "## First sync".
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


def first_sync(config: str) -> dict:
    """One ``syncd sync`` of everyone, stopped once its outbox is written."""
    argv = [*SYNCD, *PUSH, "--config", config]
    server = postgres_cpu()
    out = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True)
    figures = {**json.loads(out.stdout), "server_cpu_s": postgres_cpu() - server}
    if figures["planned_s"] is None:
        raise SystemExit(f"{' '.join(argv)} never logged push_planned: {figures['tail']}")
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


def run_size(rows: int, kind: str, workdir: Path) -> dict:
    csv_path = workdir / f"hr-{rows}.csv"
    if not csv_path.exists():
        write_csv(csv_path, rows)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp, Store(kind, Path(tmp)) as store:
        config = prepared(Path(tmp), csv_path, store.url)
        logged_at_info(Path(config))
        figures = first_sync(config)
        figures["outbox"] = outbox_rows(store.url)
    print(
        f"  {rows:>9,} {kind:<10} planned+recorded {figures['planned_s']:7.1f} s "
        f"(process CPU {figures['cpu_s']:.1f} s), peak {figures['peak_mb']:5.0f} MB, "
        f"outbox {figures['outbox']}",
        flush=True,
    )
    return figures


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
    args, stores = sizes_and_stores(argparse.ArgumentParser())
    from syncd.sandbox import Sandbox

    results = {}
    CONNECTOR["guard"] = {"max_deactivations": "100%"}
    with tempfile.TemporaryDirectory() as tmp, Sandbox(vendors=["talentlms"]) as sandbox:
        CONNECTOR["target"]["base_url"] = sandbox.base_url("talentlms")
        for rows in args.sizes:
            for kind in stores:
                results[(rows, kind)] = run_size(rows, kind, Path(tmp))
    section = report(results)
    print(section)
    if not args.no_write:
        write_section(section)


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    main()
