"""Push-cycle benchmark: parse, first-cycle planning and no-change cycle on large HR files.

Usage: python bench/push_cycle.py [--sizes 100000 1000000] [--no-write]

Each measurement runs in its own process so its peak memory (max RSS) is its own.
Figures are printed and written to docs/benchmarks.md under "## Push cycle".
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine, peak_mb, stamp, write_section

DEPARTMENTS = ["Engineering", "Sales", "Finance", "Support", "Marketing", "Legal", "HR"]
STATUSES = ["active"] * 18 + ["leave", "contractor"]

CONNECTOR = {
    "name": "bench",
    "source": "hr",
    "scope": "status != 'contractor'",
    "schedule": {"every": "15m"},
    "target": {"type": "talentlms", "base_url": "https://bench.talentlms.com", "api_key": "k"},
    "users": {
        "match": "email",
        "fields": {
            "login": "{{ employee_id }}",
            "name": "{{ first_name }}",
            "surname": "{{ last_name }}",
            "email": "{{ email | lower }}",
        },
        "active": "{{ status in ['active', 'leave'] }}",
    },
    "groups": [{"from": "{{ department }}", "map": {"Engineering": "Engineering Team"}}],
    "enrollments": [{"when": "{{ department == 'Sales' }}", "courses": [101, 102]}],
}


def write_csv(path: Path, rows: int) -> None:
    rnd = random.Random(rows)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["employee_id", "first_name", "last_name", "email", "department",
                         "status", "job_title", "start_date"])
        for i in range(rows):
            writer.writerow([f"E{i:07d}", f"First{i}", f"Last{rnd.randint(0, 99999)}",
                             f"Person.{i}@Example.com", rnd.choice(DEPARTMENTS),
                             rnd.choice(STATUSES), "Analyst", "2020-01-15"])


class BenchAdapter:
    """Accepts everything and knows no account: planning cost only, no HTTP."""

    vendor = "bench"
    api_calls = 0
    target = None
    listing = None

    def __init__(self):
        from syncd.vendors.talentlms import TalentLMSAdapter

        self.capabilities = TalentLMSAdapter.facts.capabilities

    def begin_validation(self):
        pass

    def validate(self, user):
        return []

    def arrange(self, ops):
        return list(ops)

    def match_existing(self, users, match):
        return {}


def _parts(csv_path: str):
    from syncd.config import ConnectorConfig
    from syncd.config.schema.sources import CsvSourceConfig
    from syncd.mapping import compile_connector
    from syncd.sources import open_source

    source = open_source("hr", CsvSourceConfig(type="csv", path=csv_path, key="employee_id"))
    return source, compile_connector(ConnectorConfig.model_validate(CONNECTOR))


def measure(kind: str, csv_path: str, db_url: str) -> dict:
    from syncd.engine.diff import DiffPolicy
    from syncd.engine.push.plan import plan_changes
    from syncd.engine.push.read import read_people
    from syncd.state.db import make_engine
    from syncd.state.store import link_digests

    source, mapper = _parts(csv_path)
    started = time.perf_counter()
    if kind == "parse":
        count = sum(1 for _ in source.records())
        result = {"records": count}
    else:
        engine = make_engine(db_url)
        adapter = BenchAdapter()
        with engine.connect() as conn:
            digests = link_digests(conn, "bench")
        reading = read_people(source.records(), "employee_id", mapper, adapter.validate, digests)
        plan = plan_changes(engine, "bench", reading, digests, adapter=adapter,
                            policy=DiffPolicy(), match="email")
        result = {"records": reading.records_seen, "operations": len(plan.ops),
                  "unchanged": reading.unchanged}
        if kind == "first":
            elapsed = time.perf_counter() - started
            _store_links(engine, plan)
            result["seconds"] = elapsed
    result.setdefault("seconds", time.perf_counter() - started)
    result["peak_mb"] = peak_mb()
    return result


def _store_links(engine, plan) -> None:
    """What a successful first push leaves behind: one link per person with its hash."""
    from syncd.model import LinkStatus, stable_hash
    from syncd.state.store import now
    from syncd.state.tables import links

    at = now()
    rows = []
    for key, desired in plan.desired.items():
        fields = dict(desired.fields)
        rows.append({
            "connector": "bench", "hr_key": key, "remote_id": key,
            "status": LinkStatus.LINKED.value if desired.active else LinkStatus.DEACTIVATED.value,
            "active": desired.active, "fields": fields, "fields_hash": stable_hash(fields),
            "groups": sorted(desired.groups), "courses": sorted(desired.courses),
            "source_hash": desired.source_hash, "created_at": at, "updated_at": at,
        })
        if len(rows) == 20_000:
            with engine.begin() as conn:
                conn.execute(links.insert(), rows)
            rows = []
    if rows:
        with engine.begin() as conn:
            conn.execute(links.insert(), rows)


def run_size(rows: int, workdir: Path) -> dict:
    csv_path = workdir / f"hr-{rows}.csv"
    db_path = workdir / f"state-{rows}.db"
    write_csv(csv_path, rows)
    db_url = f"sqlite:///{db_path}"
    from syncd.state.migrate import upgrade

    upgrade(db_url)
    figures = {}
    for kind in ("parse", "first", "nochange"):
        output = subprocess.run(
            [sys.executable, __file__, "--measure", kind, "--csv", str(csv_path), "--db", db_url],
            capture_output=True, text=True, check=True,
        ).stdout
        figures[kind] = json.loads(output.strip().splitlines()[-1])
        print(f"  {rows:>9,} {kind:<9} {figures[kind]['seconds']:8.2f} s  "
              f"peak {figures[kind]['peak_mb']:7.0f} MB  {figures[kind]}", flush=True)
    return figures


def report(results: dict[int, dict]) -> str:
    lines = [
        "## Push cycle",
        "",
        f"`bench/push_cycle.py`, {stamp()}, {machine()}, SQLite state store. "
        "Synthetic HR CSV (8 columns; "
        "5% contractors out of scope), the SPEC's TalentLMS mapping (4 fields, a mapped group, "
        "a conditional enrollment). Each figure is its own process; peak = max RSS.",
        "",
        "| people | parse only | first cycle: plan | no-change cycle | no-change / parse "
        "| peak memory, no-change |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for rows, f in results.items():
        ratio = f["nochange"]["seconds"] / f["parse"]["seconds"]
        lines.append(
            f"| {rows:,} | {f['parse']['seconds']:.2f} s | {f['first']['seconds']:.2f} s "
            f"({f['first']['operations']:,} ops, peak {f['first']['peak_mb']:.0f} MB) "
            f"| {f['nochange']['seconds']:.2f} s | {ratio:.2f}x "
            f"| {f['nochange']['peak_mb']:.0f} MB |"
        )
    lines += [
        "",
        "The no-change cycle reads the source, hashes each record with the mapping's "
        "fingerprint and compares it with the hash stored on the person's link: no rendering, "
        "no diff, no API call. Aim: within 3x the bare parse, under 600 MB at 1,000,000.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--measure")
    parser.add_argument("--csv")
    parser.add_argument("--db")
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.csv, args.db)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        results = {rows: run_size(rows, Path(tmp)) for rows in args.sizes}
    section = report(results)
    print(section)
    if not args.no_write:
        write_section(section)


if __name__ == "__main__":
    main()
