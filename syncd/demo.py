"""``syncd demo``: the whole product on embedded defaults, with nothing to set up.

It starts the vendor sandbox in this process, writes a sample HR file, a
configuration and a SQLite state store into a temporary folder, runs push and
pull for every vendor that has an adapter, lets a few sample people finish
courses in the simulated LMSs, pulls again, and prints the status table and
where everything is. The folder is kept so the files can be inspected.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from syncd.sandbox import Sandbox
from syncd.sandbox.learningpool.endpoints import SANDBOX_TARGET

PEOPLE = [
    # employee_id, first, last, department, status, job title
    ("1001", "Ada", "Lovelace", "Engineering", "active", "Engineer"),
    ("1002", "Grace", "Hopper", "Engineering", "active", "Architect"),
    ("1003", "Alan", "Turing", "Sales", "active", "Account Executive"),
    ("1004", "Katherine", "Johnson", "Sales", "leave", "Sales Lead"),
    ("1005", "Edsger", "Dijkstra", "Finance", "active", "Controller"),
    ("1006", "Barbara", "Liskov", "Engineering", "active", "Engineer"),
    ("1007", "Donald", "Knuth", "Sales", "terminated", "Account Executive"),
    ("1008", "Margaret", "Hamilton", "Engineering", "contractor", "Consultant"),
]

SANDBOX_CREDENTIALS: dict[str, dict[str, Any]] = {
    "talentlms": {"api_key": "sandbox-talentlms-key"},
    "hownow": {
        "client_id": "sandbox-hownow-client",
        "client_secret": "sandbox-hownow-secret",
        "deactivate_assign_to": "EXT-svc_admin",
    },
    "ilms": {
        "org_id": "1001",
        "api_login_id": "sandbox-ilms-login",
        "transaction_key": "sandbox-ilms-key",
    },
    # The sandbox's own Simple API paths, paging and deactivation: Learning Pool publishes
    # none of them (see that package).
    "learningpool": SANDBOX_TARGET,
}

MAPPINGS: dict[str, dict[str, Any]] = {
    "talentlms": {
        "scope": "status != 'contractor'",
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
        "groups": [{"from": "{{ department }}",
                    "map": {"Engineering": "Engineering Team", "Sales": "Sales Team"},
                    "create_missing": True}],
        "enrollments": [{"when": "{{ department == 'Sales' }}", "courses": [101, 102]}],
    },
    "hownow": {
        "users": {
            "fields": {
                "external_user_id": "{{ employee_id }}",
                "name": "{{ first_name }} {{ last_name }}",
                "email": "{{ email }}",
                "user_type": "ReadOnly",
                "job_role": {"name": "{{ job_title }}"},
            },
            "active": "{{ status == 'active' }}",
        },
    },
    "ilms": {
        "scope": "status != 'contractor'",
        "users": {
            "match": "F004",
            "fields": {
                "F001": "{{ first_name }}",
                "F003": "{{ last_name }}",
                "F004": "{{ employee_id }}",
                "F015": "{{ email | lower }}",
                "F007": "{{ job_title }}",
                "F019": "Region 1",
                "F020": "Division 1",
                "F021": "Department 1",
            },
            "active": "{{ status in ['active', 'leave'] }}",
        },
        "groups": [{"from": "{{ department }}", "map": {"Finance": ""}}],
        "enrollments": [{"courses": ["p1gyJg4a"]},
                        {"when": "{{ department == 'Sales' }}", "courses": ["wqivr6aA"]}],
    },
    "learningpool": {
        "scope": "status != 'contractor'",
        "users": {
            "match": "email",
            "fields": {
                "external_id": "{{ employee_id }}",
                "username": "{{ first_name | lower }}.{{ last_name | lower }}",
                "email": "{{ email | lower }}",
                "first_name": "{{ first_name }}",
                "last_name": "{{ last_name }}",
                "function": "{{ job_title }}",
            },
            "active": "{{ status in ['active', 'leave'] }}",
        },
        "groups": [{"from": "{{ department }}",
                    "map": {"Engineering": "ENG", "Sales": "SALES", "Finance": ""}}],
        "enrollments": [{"courses": ["LX-SEC-101"]},
                        {"when": "{{ department == 'Sales' }}", "courses": ["LX-SAL-301"]}],
    },
}


def _write_hr(path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["employee_id", "first_name", "last_name", "email", "department",
                         "status", "job_title"])
        for key, first, last, dept, status, title in PEOPLE:
            writer.writerow([key, first, last, f"{first}.{last}@Example.com", dept, status,
                             title])


def demo_vendors() -> list[str]:
    """Vendors with both a sandbox simulator and an adapter in this installation."""
    from syncd.assemble import ADAPTERS
    from syncd.sandbox.registry import available_vendors

    return [vendor for vendor in available_vendors() if vendor in MAPPINGS and vendor in ADAPTERS]


def write_config(folder: Path, sandbox: Sandbox, vendors: list[str]) -> Path:
    connectors = []
    for vendor in vendors:
        target = {"type": vendor, "base_url": sandbox.base_url(vendor),
                  **SANDBOX_CREDENTIALS[vendor]}
        connectors.append({
            "name": vendor,
            "source": "hr",
            "schedule": {"every": "15m"},
            "target": target,
            **MAPPINGS[vendor],
            "pull": {"sink": "training"},
        })
    config = {
        "state": {"url": f"sqlite:///{folder / 'state.db'}"},
        "log": {"format": "console", "level": "warning"},
        "sources": {"hr": {"type": "csv", "path": str(folder / "employees.csv"),
                           "key": "employee_id"}},
        "sinks": {"training": {"type": "csv", "path": str(folder / "training_records.csv"),
                               "mode": "rewrite"}},
        "connectors": connectors,
    }
    path = folder / "syncd.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _learn_talentlms(sandbox: Sandbox, remote_ids: dict[str, str]) -> None:
    sim = sandbox.sim("talentlms")
    for hr_key, score in (("1003", 92.0), ("1004", 78.5)):
        if hr_key in remote_ids:
            sim.complete(int(remote_ids[hr_key]), 101, score=score)


def _learn_hownow(sandbox: Sandbox, remote_ids: dict[str, str]) -> None:
    sim = sandbox.sim("hownow")
    for hr_key, progress in (("1001", 100), ("1002", 40)):
        if hr_key in remote_ids:
            sim.set_progress(f"EXT-{hr_key}", "course_1", progress)


def _learn_ilms(sandbox: Sandbox, remote_ids: dict[str, str]) -> None:
    sim = sandbox.sim("ilms")
    for hr_key, score in (("1001", 95), ("1003", 81)):
        if hr_key in remote_ids:
            sim.complete(int(remote_ids[hr_key]), "p1gyJg4a", score=score)


def _learn_learningpool(sandbox: Sandbox, remote_ids: dict[str, str]) -> None:
    sim = sandbox.sim("learningpool")
    for hr_key, score in (("1002", 90), ("1003", 74)):
        if hr_key in remote_ids:
            sim.complete(int(remote_ids[hr_key]), "LX-SEC-101", score=score)
    if "1001" in remote_ids:  # half-way through: an in-progress result
        sim.complete(int(remote_ids["1001"]), "LX-SEC-101", progress=50)


LEARNING: dict[str, Callable[[Sandbox, dict[str, str]], None]] = {
    "talentlms": _learn_talentlms,
    "hownow": _learn_hownow,
    "ilms": _learn_ilms,
    "learningpool": _learn_learningpool,
}
"""Sample people finishing courses in each simulated LMS, so the pull has something to carry."""


def run_demo(folder: Path | None = None, echo: Callable[[str], None] = print) -> int:
    """Run the demo; returns the worst exit code of its cycles."""
    from syncd.assemble import load_config, open_state, pull_once, push_once
    from syncd.config import secrets
    from syncd.logs import configure
    from syncd.model import LinkStatus
    from syncd.state.store import iter_links

    folder = folder or Path(tempfile.mkdtemp(prefix="syncd-demo-"))
    _write_hr(folder / "employees.csv")
    codes = [0]
    with Sandbox(job_duration=0.2) as sandbox:
        vendors = demo_vendors()
        config_path = write_config(folder, sandbox, vendors)
        config = load_config(config_path)
        configure(config.log.format, config.log.level, secrets(config))
        engine = open_state(config)
        echo(f"syncd demo: {len(PEOPLE)} HR records, vendors {', '.join(vendors)}")
        for vendor in vendors:
            result = push_once(config, vendor, engine)
            codes.append(result.exit_code)
            echo(f"  {vendor:<12} push  {result.outcome:<8} " + _counts(result.counts))
            with engine.connect() as conn:
                remote_ids = {link.hr_key: link.remote_id for link in
                              iter_links(conn, vendor, [LinkStatus.LINKED])
                              if link.remote_id}
            LEARNING[vendor](sandbox, remote_ids)
            pulled = pull_once(config, vendor, engine)
            codes.append(pulled.exit_code)
            echo(f"  {vendor:<12} pull  {pulled.outcome:<8} " + _counts(pulled.counts))
        _print_status(engine, echo)
        engine.dispose()
    echo("")
    echo(f"files:  {folder}")
    echo(f"  configuration    {config_path}")
    echo(f"  HR source        {folder / 'employees.csv'}")
    echo(f"  learning results {folder / 'training_records.csv'}")
    echo(f"  state store      {folder / 'state.db'}")
    echo(f"try:    syncd status --config {config_path}")
    return max(codes)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in counts.items() if v)


def _print_status(engine, echo: Callable[[str], None]) -> None:
    from syncd.state.status import status_rows

    echo("")
    echo(f"{'connector':<13}{'direction':<10}{'state':<9}{'pending':>8}{'failed':>8}"
         f"{'unlinked':>9}  last error")
    for row in status_rows(engine):
        echo(f"{row['connector']:<13}{row['direction']:<10}{row['state']:<9}"
             f"{row['pending_ops']:>8}{row['failed_ops']:>8}{row['unlinked_results']:>9}  "
             f"{row['last_error'] or ''}")
