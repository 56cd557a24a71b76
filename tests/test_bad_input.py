"""The bad-input corpus: careless and hostile input, each met with a clear answer, nothing lost.

Every folder of ``tests/data/bad_input/`` is one case: ``case.yaml`` says what is run and
what must come of it, beside the HR file (and a configuration, when the shared one with a
``patch`` will not do). Each case runs ``syncd`` as a real process against the sandbox and
is judged as an operator would judge it: the exit code, a fragment of the message, nothing
sent for the bad record, the good records of the same run pushed all the same, and no
secret anywhere. ``case.yaml``:

    about: what is wrong with the input (one line)
    run: [sync, lms, --direction, push]     # the command (the default), --config added
    stores: [sqlite]                        # the stores it runs on (the default: both); a
                                            # case that ends before the store is opened
                                            # (a configuration refused, a store of its own)
                                            # runs once, and is checked to leave it unopened
    patch: {connector: {users: ...}}        # deep-merged into config.yaml's first connector
                                            # (or any top-level key); lists, and mappings
                                            # with a `type`, are replaced
    pad_config: 1100000                     # append a comment of N bytes to the config
    store: newer_revision                   # prepare the state store so
    sandbox: {faults: {...}, seed: {...}}   # TalentLMS simulator set-up before the run
    hr_api: {...}                           # a scripted HR API (tests/support/hr_api.py)
    env: {NAME: value}                      # extra environment of the run
    then: [[errors, lms], [trace, lms, G1]]  # commands run after it (their output is
                                            # searched for the secret too)
    expect:
      exit: 1
      message: fragment (or a list of them) of the output
      sent: nothing | no_writes             # what the vendor may have seen
      lms: {present: [emails], absent: [emails]}   # TalentLMS accounts after the run
      errors: [HR keys]                     # open errors in the store (`syncd errors`)
      secret: text no 8 characters of which may be anywhere: output, logs, store, sink
      sink: {rows: N, cells: {column: [exact values]}}  # the CSV sink read back with csv
"""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import inspect, text

from syncd.sandbox import Sandbox
from syncd.state.db import make_engine
from syncd.state.status import error_rows
from tests.support.cli import run_syncd
from tests.support.hr_api import ScriptedHrApi
from tests.support.store import migrated_by_a_newer_syncd

pytestmark = pytest.mark.slow

CORPUS = Path(__file__).parent / "data" / "bad_input"
WRITES = ("POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class Case:
    name: str
    folder: Path
    spec: dict[str, Any]

    @property
    def expect(self) -> dict[str, Any]:
        return self.spec["expect"]


def _cases() -> list[Case]:
    return [
        Case(folder.name, folder, yaml.safe_load((folder / "case.yaml").read_text()))
        for folder in sorted(CORPUS.iterdir())
        if (folder / "case.yaml").is_file()
    ]


def _params() -> list[Any]:
    params = []
    for case in _cases():
        for store in _stores(case):
            marks = [pytest.mark.postgres] if store == "postgresql" else []
            params.append(pytest.param(case, store, id=f"{case.name}-{store}", marks=marks))
    return params


def _stores(case: Case) -> list[str]:
    return case.spec.get("stores", ["sqlite", "postgresql"])


def test_the_corpus_covers_every_family_with_forty_cases_or_more():
    cases = _cases()
    assert len(cases) >= 40
    families = {case.name.split("-")[0] for case in cases}
    assert families == {"config", "source", "api", "template", "store", "only", "vendor", "sink"}
    for case in cases:  # each says how it ends, and what reached the LMS or HR
        assert {"about", "expect"} <= set(case.spec), case.name
        assert {"exit", "message"} <= set(case.expect), case.name
        assert set(case.expect) & {"sent", "lms", "sink"}, case.name


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(vendors=["talentlms"], job_duration=0.1, seed=11) as running:
        yield running


@pytest.mark.parametrize(("case", "store"), _params())
def test_bad_input(case: Case, store: str, request, tmp_path: Path, sandbox: Sandbox):
    state_url = request.getfixturevalue("sqlite_url" if store == "sqlite" else "postgres_url")
    sim = sandbox.sim("talentlms")
    sim.reset()
    setup = case.spec.get("sandbox", {})
    if setup.get("seed"):
        sim.seed(setup["seed"])
    work = tmp_path / "case"
    shutil.copytree(case.folder, work)
    config = _write_config(case, work)
    _prepare_store(case.spec.get("store"), state_url)
    env = {
        "WORK": str(work),
        "STATE_URL": state_url,
        "TALENTLMS_URL": sandbox.base_url("talentlms"),
        **{k: str(v) for k, v in case.spec.get("env", {}).items()},
    }
    with ScriptedHrApi(case.spec.get("hr_api", {})) as hr_api:
        env["HR_API"] = hr_api.url
        if setup.get("faults"):
            sim.set_faults(setup["faults"])
        done = run_syncd(*case.spec.get("run", _PUSH), "--config", str(config), env=env)
    sim.set_faults({"clear": True})
    output = done.stdout + done.stderr
    if len(_stores(case)) == 1 and store == "sqlite":  # run once: the store must not matter
        assert not (tmp_path / "state.db").exists(), f"{case.name} reached the store: run both"
    later = [run_syncd(*command, "--config", str(config), env=env) for command in _then(case)]
    expect = case.expect

    assert done.returncode == expect["exit"], output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    for fragment in _listed(expect.get("message")):
        assert fragment in output, f"{fragment!r} not in:\n{output[-3000:]}"
    _check_sent(expect.get("sent"), sim)
    _check_lms(expect.get("lms", {}), sim)
    if "errors" in expect:
        assert sorted(e["hr_key"] for e in _open_errors(state_url)) == sorted(expect["errors"])
    if "secret" in expect:
        texts = [output, *(d.stdout + d.stderr for d in later), _read(work / "training.csv")]
        _check_no_leak(expect["secret"], [*texts, *_store_values(state_url)])
    if "sink" in expect:
        _check_sink(expect["sink"], work / "training.csv")


_PUSH = ["sync", "lms", "--direction", "push"]


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


# -- set-up ----------------------------------------------------------------------------------


def _write_config(case: Case, work: Path) -> Path:
    """The case's own config.yaml, or the shared one with its ``patch``; then its padding."""
    path = work / "config.yaml"
    if not path.exists():
        document = yaml.safe_load((CORPUS / "config.yaml").read_text())
        patch = dict(case.spec.get("patch", {}))
        if "connector" in patch:
            document["connectors"][0] = _merged(document["connectors"][0], patch.pop("connector"))
        path.write_text(yaml.safe_dump(_merged(document, patch), sort_keys=False))
    if case.spec.get("pad_config"):
        with path.open("a") as handle:
            handle.write("\n# " + "x" * int(case.spec["pad_config"]) + "\n")
    return path


def _merged(base: Any, patch: Any) -> Any:
    """``patch`` over ``base``; a mapping with a ``type`` replaces (another kind of source)."""
    if not isinstance(base, dict) or not isinstance(patch, dict) or "type" in patch:
        return patch
    merged = dict(base)
    for key, value in patch.items():
        merged[key] = _merged(base.get(key), value) if key in base else value
    return merged


def _prepare_store(how: str | None, url: str) -> None:
    if how is not None:
        assert how == "newer_revision", how
        migrated_by_a_newer_syncd(url)


# -- what came of it -------------------------------------------------------------------------


def _check_sent(sent: str | None, sim: Any) -> None:
    requests = sim.requests()
    if sent == "nothing":
        assert requests == [], f"the vendor was called: {requests[:3]}"
    elif sent == "no_writes":
        writes = [r for r in requests if r["method"] in WRITES]
        assert writes == [], f"the vendor got writes: {writes[:3]}"
    else:
        assert sent is None, sent


def _check_lms(expected: dict[str, list[str]], sim: Any) -> None:
    if not expected:
        return
    users = {u["email"]: u for u in sim.dump()["users"]}
    for email in expected.get("present", []):
        assert email in users, f"{email} was held back (accounts: {sorted(users)})"
        assert users[email]["status"] == "active", users[email]
    for email in expected.get("absent", []):
        assert email not in users, f"{email} was sent"


def _open_errors(url: str) -> list[dict[str, Any]]:
    engine = make_engine(url)
    try:
        if not inspect(engine).has_table("sync_errors"):
            return []
        return error_rows(engine, "lms")
    finally:
        engine.dispose()


def _then(case: Case) -> list[list[str]]:
    return case.spec.get("then", [])


def _store_values(url: str) -> list[str]:
    """Every value of every row of every table of the store, as text."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [
                str(value)
                for table in inspect(conn).get_table_names()
                for row in conn.execute(text(f'SELECT * FROM "{table}"'))
                for value in _flat(list(row))
            ]
    finally:
        engine.dispose()


def _flat(value: Any) -> list[Any]:
    """The scalars inside a value: JSON columns, and JSON log lines, opened up."""
    if isinstance(value, str) and value.lstrip().startswith(("{", "[")):
        try:
            value = json.loads(value)
        except ValueError:
            return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [scalar for item in value for scalar in _flat(item)]
    return [value]


def _check_no_leak(secret: str, texts: list[str]) -> None:
    """No 8 characters of ``secret`` in a row anywhere, JSON log lines read as their values
    (escaping would hide a leaked quote or backslash from a plain search)."""
    values = [str(v) for t in texts for line in t.splitlines() for v in _flat(line)]
    width = min(8, len(secret))
    pieces = {secret[i : i + width] for i in range(len(secret) - width + 1)}
    leaks = [(piece, v[:200]) for v in values for piece in pieces if piece in v]
    assert not leaks, leaks[:3]


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _check_sink(expected: dict[str, Any], path: Path) -> None:
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == expected["rows"], rows
    for column, value in expected.get("cells", {}).items():  # in any order
        assert sorted(row[column] for row in rows) == sorted(_listed(value)), rows
