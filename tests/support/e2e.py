"""The end-to-end harness: one connector configured from YAML, its HR file, its state
store and its HR sink, driven through the real runtime and engines.

Each vendor's end-to-end tests subclass ``E2EConnector`` with the connector their
situations need; what is the same for every vendor (writing the HR file, building
the adapter with quick retries, one push or pull cycle, reading what syncd recorded
and delivered) lives here once.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from sqlalchemy.engine import Engine

from syncd.assemble import (
    adapter_class,
    adapter_context,
    load_config,
    open_state,
    pull_once,
    push_settings,
)
from syncd.config import Config
from syncd.engine.pull.run import PullResult
from syncd.engine.push.run import PushResult, run_push
from syncd.engine.push.settings import JobPolling
from syncd.http import RetryPolicy
from syncd.state.status import error_rows
from syncd.vendors.pulling import start_option
from tests.support.configs import config_document, save_config
from tests.support.factory import closing_factory


def quick_retry(attempts: int = 4) -> RetryPolicy:
    """Retries that back off in milliseconds, so a fault costs a test no real time."""
    return RetryPolicy(attempts=attempts, backoff_initial=0.01, backoff_max=0.05)


def hr_person(key: str, dept: str = "Engineering") -> dict[str, str]:
    """An active person of the HR file, every value derived from ``key``; each vendor's
    tests add the columns their mapping reads."""
    return {
        "employee_id": key,
        "first_name": f"First{key}",
        "last_name": f"Last{key}",
        "email": f"{key.lower()}@acme.test",
        "department": dept,
        "status": "active",
    }


def write_rows(path: Path, columns: Sequence[str], rows: list[dict]) -> None:
    """Write ``rows`` as a CSV file with a header, as an HR export would be."""
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)


def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV file, none when syncd has not written it yet."""
    if not path.exists():
        return []
    with path.open() as handle:
        return list(csv.DictReader(handle))


def push_cycle(
    config: Config, name: str, engine: Engine, adapter: Any, polling: JobPolling | None = None
) -> PushResult:
    """One push cycle of connector ``name`` through ``adapter``, which is closed after."""
    try:
        return push_through(config, name, engine, adapter, polling)
    finally:
        adapter.close()


def push_through(
    config: Config, name: str, engine: Engine, adapter: Any, polling: JobPolling | None = None
) -> PushResult:
    """One push cycle through ``adapter``, left open: an adapter may outlive a cycle."""
    settings = push_settings(config, name, engine, adapter=adapter)
    if polling is not None:  # the test's patience; the connector's job_timeout stays
        settings.polling = replace(polling, give_up_after=settings.polling.give_up_after)
    return run_push(settings)


def pull_cycle(config: Config, name: str, engine: Engine, adapter: Any = None) -> PullResult:
    """One pull cycle of connector ``name`` into its sink; sink and adapter are closed after."""
    return pull_once(config, name, engine, adapter=adapter)


def error_reasons(engine: Engine, connector: str) -> dict[tuple[str, str], str]:
    """What ``syncd errors`` lists, as (HR key, operation) → reason."""
    return {(e["hr_key"], e["operation"]): e["reason"] for e in error_rows(engine, connector)}


def calls(sim: Any) -> Counter:
    """Requests a simulator answered, by endpoint (every status)."""
    return Counter({endpoint: sum(by.values()) for endpoint, by in sim.counts().items()})


def last_request(sim: Any) -> int:
    """The number of the last request a simulator saw (0: none since its reset)."""
    seen = sim.requests(limit=1)
    return seen[-1]["seq"] if seen else 0


def reads_before_writing(sim: Any, since: int, read: str, write: str) -> int:
    """Requests to endpoint ``read`` after request ``since`` and before the first ``write``
    (a streamed first sync plans every chunk, adoption included, before it sends one)."""
    reads = 0
    for request in sim.requests(since):
        if request["endpoint"] == write:
            break
        reads += request["endpoint"] == read
    return reads


class Crash(Exception):
    """The process dies right after the vendor took a write, before its outcome is recorded."""


def crashing_after(adapter: Any, kind: Any, target: str | None = None) -> Any:
    """``adapter``, made to die (``Crash``) right after it sent the operations of ``kind``
    (to ``target``, when given): the outbox keeps them as sent, and the next cycle must
    find out what became of them."""
    execute = adapter.execute

    def execute_then_crash(ops: Sequence[Any]) -> Any:
        outcomes = execute(ops)
        if ops and ops[0].kind is kind and target in (None, *(op.target for op in ops)):
            raise Crash(f"died after sending {len(ops)} {kind.value} operations")
        return outcomes

    adapter.execute = execute_then_crash
    return adapter


class E2EConnector:
    """One connector named ``name``, reading ``hr.csv`` and writing ``training.csv``.

    A subclass sets ``name`` and ``columns`` (the HR file's header) and passes the
    connector section of the YAML; tests fill ``hr`` and call ``push`` or ``pull``.
    """

    name: ClassVar[str]
    columns: ClassVar[Sequence[str]]
    retry_attempts: ClassVar[int] = 4
    polling: ClassVar[JobPolling | None] = None  # None: the connector's own settings

    def __init__(self, tmp_path: Path, db_url: str, connector: dict[str, Any]) -> None:
        self.hr_path = tmp_path / "hr.csv"
        self.sink_path = tmp_path / "training.csv"
        self.hr: list[dict] = []
        self.document = config_document(
            tmp_path,
            db_url,
            connector,
            sinks={"training": {"type": "csv", "path": str(self.sink_path)}},
        )
        self.path = save_config(tmp_path / "syncd.yaml", self.document)
        self.config = load_config(self.path)
        self.engine = open_state(self.config)

    def write_hr(self) -> None:
        write_rows(self.hr_path, self.columns, self.hr)

    def adapter(self, **options: Any):
        """The connector's adapter as syncd builds it, with quick retries.

        ``options`` may set ``pull.start_date`` (``start_date``); the rest are the
        adapter class's own test tunings.
        """
        connector = self.config.connector(self.name)
        context = adapter_context(connector, self.engine, retry=quick_retry(self.retry_attempts))
        if "start_date" in options:
            start = start_option(options.pop("start_date"))
            context = replace(context, pull=replace(context.pull, start_date=start))
        return adapter_class(connector.target.type)(connector.target, context, **options)

    def push(self, adapter: Any = None) -> PushResult:
        """Write the HR file, then one push cycle (through ``adapter`` when given)."""
        self.write_hr()
        return push_cycle(
            self.config, self.name, self.engine, adapter or self.adapter(), self.polling
        )

    def push_keeping(self, adapter: Any) -> PushResult:
        """Write the HR file, then one push cycle through ``adapter``, which stays open."""
        self.write_hr()
        return push_through(self.config, self.name, self.engine, adapter, self.polling)

    def pull(self) -> PullResult:
        return pull_cycle(self.config, self.name, self.engine, self.adapter())

    def error_rows(self) -> list[dict]:
        """What ``syncd errors`` lists for this connector."""
        return error_rows(self.engine, self.name)

    def sink_rows(self) -> list[dict[str, str]]:
        return read_rows(self.sink_path)

    def close(self) -> None:
        self.engine.dispose()


C = TypeVar("C", bound=E2EConnector)


def connector_factory(
    cls: type[C], tmp_path: Path, db_url: str, base_url: str
) -> AbstractContextManager[Callable[..., C]]:
    """A function making ``cls`` connectors against ``base_url``, all closed on exit."""

    def build(**options: Any) -> C:
        return cls(tmp_path, db_url, base_url, **options)  # type: ignore[call-arg]

    return closing_factory(build)
