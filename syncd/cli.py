"""The ``syncd`` command line: parse, call one library function, print. No logic here.

Exit codes (SPEC §2): 0 success; 1 some records or operations failed; 2
configuration or usage error; 3 a safety guard stopped the run; 4 a vendor or
the state store could not be reached or refused our credentials.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:
    from sqlalchemy import Engine

EXIT_OK, EXIT_PARTIAL, EXIT_CONFIG, EXIT_GUARDED, EXIT_UNREACHABLE = 0, 1, 2, 3, 4


def _default_config_path() -> str:
    return os.environ.get("SYNCD_CONFIG") or "syncd.yaml"


def config_option(func: Callable) -> Callable:
    return click.option(
        "--config",
        "config_path",
        default=_default_config_path,
        show_default="$SYNCD_CONFIG, else ./syncd.yaml",
        help="Path of the YAML configuration.",
    )(func)


def json_option(func: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(
        func
    )


def _load(config_path: str):
    """The validated configuration, or exit 2 listing every problem."""
    from syncd.assemble import load_config
    from syncd.config import ConfigError
    from syncd.logs import configure

    try:
        config = load_config(config_path)
    except ConfigError as error:
        click.echo(str(error), err=True)
        sys.exit(EXIT_CONFIG)
    from syncd.config import secrets
    from syncd.state.db import describe_store

    configure(config.log.format, config.log.level, secrets(config))
    _STORE["where"] = describe_store(config.state.url.get_secret_value())
    return config


_STORE = {"where": "(not yet opened)"}
"""Where the configured state store is, for messages that outlive the command's context."""


def _state_engine(config):
    """The store's engine without migrating it (status, errors): still refused when unusable."""
    from sqlalchemy.exc import SQLAlchemyError

    from syncd.state.db import make_engine
    from syncd.state.migrate import check_known, check_location

    url = config.state.url.get_secret_value()
    check_location(url)
    try:
        check_known(url)
        engine = make_engine(url)
        with engine.connect():
            pass
    except SQLAlchemyError as error:
        _store_unreachable(error)
    return engine


def _store_unreachable(error: Exception) -> NoReturn:
    """Exit 4 naming the store and the driver's reason (not SQLAlchemy's help link)."""
    from syncd.logs import redactor

    reason = " ".join(str(getattr(error, "orig", None) or error).split())
    click.echo(
        f"cannot open the state store ({_STORE['where']}): {redactor.redact_text(reason)}",
        err=True,
    )
    sys.exit(EXIT_UNREACHABLE)


def _print_table(title: str, rows: list[dict[str, Any]], columns: tuple[str, ...], empty: str):
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not rows:
        console.print(empty)
        return
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    console.print(table)


@click.group()
@click.version_option(package_name="syncd")
def cli() -> None:
    """syncd keeps LMS accounts in line with an HR system and carries learning results back."""


@cli.group("config")
def config_group() -> None:
    """Configuration commands."""


@config_group.command("check")
@config_option
def config_check(config_path: str) -> None:
    """Validate the configuration and print it resolved, with secrets masked."""
    from syncd.assemble import check

    code, text = check(config_path)
    click.echo(text, err=code != EXIT_OK)
    sys.exit(code)


@cli.group("db")
def db_group() -> None:
    """State store commands."""


@db_group.command("upgrade")
@config_option
def db_upgrade(config_path: str) -> None:
    """Apply the migrations to the configured state store."""
    from syncd.state.migrate import current_revision, upgrade

    config = _load(config_path)
    url = config.state.url.get_secret_value()
    upgrade(url)
    click.echo(f"state store at revision {current_revision(url)}")


@cli.command("status")
@config_option
@json_option
def status(config_path: str, as_json: bool) -> None:
    """Print the status table: one row per connector and direction."""
    from sqlalchemy import inspect

    from syncd.state.status import STATUS_COLUMNS, status_rows

    config = _load(config_path)
    engine = _state_engine(config)
    rows = status_rows(engine) if inspect(engine).has_table("sync_status") else []
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    _print_table("syncd status", rows, STATUS_COLUMNS, "No connector has run yet.")


@cli.command("errors")
@click.argument("name")
@config_option
@json_option
def errors(name: str, config_path: str, as_json: bool) -> None:
    """Records that failed validation or were rejected by the vendor, with the reason."""
    from sqlalchemy import inspect

    from syncd.state.status import ERROR_COLUMNS, error_rows

    config = _load(config_path)
    engine = _state_engine(config)
    rows = error_rows(engine, name) if inspect(engine).has_table("sync_errors") else []
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    _print_table(f"errors of {name}", rows, ("direction", *ERROR_COLUMNS), f"No errors for {name}.")


@cli.command("trace")
@click.argument("name")
@click.argument("hr_key")
@config_option
@json_option
def trace(name: str, hr_key: str, config_path: str, as_json: bool) -> None:
    """What syncd knows and did about one person of connector NAME."""
    from syncd.state.trace import person_trace

    with _connector_state(config_path, name) as engine:
        found = person_trace(engine, name, hr_key)
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    _print_trace(found)


def _print_trace(found: dict[str, Any]) -> None:
    link = found["link"]
    who = f"{found['hr_key']} in {found['connector']}"
    if link is None:
        click.echo(f"{who}: not linked to any LMS account (never pushed, or out of scope)")
    else:
        state = "active" if link["active"] else "inactive"
        click.echo(
            f"{who}: LMS id {link['remote_id'] or '(not yet known)'}, link {link['status']}, "
            f"{state}, last pushed {link['updated_at']}"
        )
        click.echo(f"  fields:  {json.dumps(link['fields'], ensure_ascii=False)}")
        click.echo(f"  groups:  {', '.join(map(str, link['groups'])) or '-'}")
        click.echo(f"  courses: {', '.join(map(str, link['courses'])) or '-'}")
    _print_table(
        "operations, newest first",
        found["operations"],
        ("id", "run_id", "kind", "target", "state", "attempts", "updated_at"),
        "No operation recorded.",
    )
    # Reasons are printed whole: they are what a person acts on.
    for error in found["errors"]:
        state = f"resolved {error['resolved_at']}" if error["resolved_at"] else "open"
        click.echo(
            f"error ({state}) {error['direction']} {error['operation']}: {error['reason']} "
            f"[seen {error['attempts']}x, last {error['last_seen_at']}]"
        )
    if not found["errors"]:
        click.echo("No error recorded.")
    click.echo(f"learning results delivered: {found['results_delivered']}")


def _connector_or_exit(config, name: str):
    try:
        return config.connector(name)
    except KeyError as error:
        click.echo(str(error.args[0]), err=True)
        sys.exit(EXIT_CONFIG)


@contextmanager
def _connector_state(config_path: str, name: str) -> Iterator[Engine]:
    """The state store, once the configuration is known to have connector NAME; closed after."""
    config = _load(config_path)
    _connector_or_exit(config, name)
    engine = _open_state_or_exit(config)
    try:
        yield engine
    finally:
        engine.dispose()


def _open_state_or_exit(config):
    from sqlalchemy.exc import SQLAlchemyError

    from syncd.assemble import StateNotReady, open_state

    try:
        return open_state(config)
    except (SQLAlchemyError, StateNotReady) as error:
        _store_unreachable(error)


def _on_state(config, work: Callable[[Any], Any]) -> Any:
    """``work(engine)`` on the configured state store, disposed of after."""
    engine = _open_state_or_exit(config)
    try:
        return work(engine)
    finally:
        engine.dispose()


def _print_plan(result, as_json: bool) -> None:
    from syncd.engine.push.order import summary

    if as_json:
        for op in result.plan:
            click.echo(json.dumps(_operation_json(op)))
        return
    counts = summary(result.plan)
    rows = [{"operation": kind, "count": n} for kind, n in counts.items()]
    _print_table("planned operations", rows, ("operation", "count"), "Nothing to do.")
    for error in result.errors:
        click.echo(f"not planned: {error}", err=True)
    if result.message:
        click.echo(result.message, err=True)


def _operation_json(op) -> dict[str, Any]:
    """One planned operation, as the outbox records it: never a write-only field (password)."""
    return {
        "kind": op.kind.value,
        "hr_key": op.hr_key,
        "remote_id": op.remote_id,
        "target": op.target,
        "changed": {name: op.fields.get(name) for name in op.changed},
    }


def _run_push(config, name: str, dry_run: bool, only: tuple[str, ...] = ()):
    from syncd.assemble import push_once
    from syncd.shutdown import SHUTDOWN

    engine = _open_state_or_exit(config)
    try:
        return push_once(
            config, name, engine, stop=SHUTDOWN, dry_run=dry_run, only=frozenset(only)
        )
    finally:
        engine.dispose()


def _run_pull(config, name: str):
    from syncd.assemble import pull_once
    from syncd.shutdown import SHUTDOWN

    engine = _open_state_or_exit(config)
    try:
        return pull_once(config, name, engine, stop=SHUTDOWN)
    finally:
        engine.dispose()


ERRORS_SHOWN = 20
"""Record errors a command prints; the rest are in ``syncd errors NAME``."""


def _report(result, direction: str, name: str) -> None:
    counts = ", ".join(f"{k}={v}" for k, v in result.counts.items() if v)
    click.echo(f"{direction}: {result.outcome}" + (f" ({counts})" if counts else ""))
    if result.message and result.outcome != "dry_run":
        click.echo(result.message, err=True)
    for error in result.errors[:ERRORS_SHOWN]:
        click.echo(error, err=True)
    if len(result.errors) > ERRORS_SHOWN:
        more = len(result.errors) - ERRORS_SHOWN
        click.echo(f"... and {more:,} more: see `syncd errors {name}`", err=True)


@cli.command("sync")
@click.argument("name")
@click.option("--direction", type=click.Choice(["push", "pull", "both"]), default="both",
              show_default=True)
@click.option("--dry-run", is_flag=True, help="Compute and print the plan; send no write.")
@click.option("--json", "as_json", is_flag=True, help="With --dry-run: one JSON line per op.")
@click.option("--only", "only", multiple=True, metavar="HR_KEY",
              help="Push only this person now (repeatable); the others wait for their cycle.")
@config_option
def sync(
    name: str, direction: str, dry_run: bool, as_json: bool, only: tuple[str, ...],
    config_path: str,
) -> None:
    """Run one cycle of connector NAME now, then exit.

    SIGTERM or SIGINT stops it between batches; what was not sent stays in the
    outbox for the next cycle, and the exit code is 128 + the signal number.
    """
    from syncd.shutdown import received_signal, stop_on_signals

    config = _load(config_path)
    connector = _connector_or_exit(config, name)
    codes = []
    with stop_on_signals():
        if direction in ("push", "both"):
            result = _run_push(config, name, dry_run, only)
            if dry_run:
                _print_plan(result, as_json)
            else:
                _report(result, "push", name)
            codes.append(result.exit_code)
        pulling = direction in ("pull", "both") and connector.pull is not None and not dry_run
        pulling = pulling and not only
        if pulling and received_signal() is None:
            result = _run_pull(config, name)
            _report(result, "pull", name)
            codes.append(result.exit_code)
    signum = received_signal()
    sys.exit(128 + signum if signum else max(codes, default=EXIT_OK))


@cli.command("run")
@config_option
def run(config_path: str) -> None:
    """The daemon: schedule every connector, serve /healthz, /metrics, /status."""
    from sqlalchemy.exc import SQLAlchemyError

    from syncd.assemble import StateNotReady
    from syncd.daemon import run_daemon

    config = _load(config_path)
    try:
        sys.exit(run_daemon(config))
    except (SQLAlchemyError, StateNotReady) as error:
        _store_unreachable(error)
    except OSError as error:
        click.echo(f"cannot serve on {config.server.listen}: {error}", err=True)
        sys.exit(EXIT_CONFIG)


@cli.command("plan")
@click.argument("name")
@json_option
@click.option("--only", "only", multiple=True, metavar="HR_KEY",
              help="Plan only for this person (repeatable).")
@config_option
def plan(name: str, as_json: bool, only: tuple[str, ...], config_path: str) -> None:
    """Print the operations the next push of NAME would send (sends no write)."""
    config = _load(config_path)
    _connector_or_exit(config, name)
    result = _run_push(config, name, dry_run=True, only=only)
    _print_plan(result, as_json)
    sys.exit(result.exit_code)


@cli.command("reconcile")
@click.argument("name")
@click.option("--apply", "apply", is_flag=True, help="Act on the connector's reconcile policies.")
@json_option
@config_option
def reconcile(name: str, apply: bool, as_json: bool, config_path: str) -> None:
    """Compare every LMS account of NAME with the links and HR; report, or act with --apply."""
    from syncd.assemble.reconcile import reconcile_once
    from syncd.engine.reconcile import report_lines
    from syncd.shutdown import SHUTDOWN, received_signal, stop_on_signals

    config = _load(config_path)
    _connector_or_exit(config, name)
    with stop_on_signals():
        result = _on_state(
            config, lambda engine: reconcile_once(config, name, engine, apply=apply, stop=SHUTDOWN)
        )
    if as_json:
        for finding in result.findings:
            click.echo(json.dumps(finding.as_json(), default=str))
    else:
        for line in report_lines(name, result.findings, result.applied):
            click.echo(line)
    for error in result.errors:
        click.echo(error, err=True)
    if result.message:
        click.echo(result.message, err=True)
    signum = received_signal()
    sys.exit(128 + signum if signum else result.exit_code)


@cli.command("approve")
@click.argument("name")
@config_option
def approve(name: str, config_path: str) -> None:
    """Let the next push of NAME go ahead once although it trips the guard."""
    from syncd.engine.push.run import approve as approve_push

    with _connector_state(config_path, name) as engine:
        approve_push(engine, name)
    click.echo(f"{name}: the next push may exceed the guard once")


@cli.command("retry")
@click.argument("name")
@config_option
def retry(name: str, config_path: str) -> None:
    """Put the failed operations of NAME back in the queue for its next cycle."""
    from syncd.engine.push.run import retry as retry_push

    with _connector_state(config_path, name) as engine:
        count = retry_push(engine, name)
    click.echo(f"{name}: {count} failed operations queued again")


@cli.command("demo")
@click.option("--dir", "folder", type=click.Path(file_okay=False), default=None,
              help="Folder for the demo's files (default: a new temporary folder).")
def demo(folder: str | None) -> None:
    """Zero set-up: sandbox, sample HR file and SQLite store; push and pull every vendor."""
    from pathlib import Path

    from syncd.demo import run_demo

    target = Path(folder) if folder else None
    if target is not None:
        target.mkdir(parents=True, exist_ok=True)
    sys.exit(run_demo(target, echo=click.echo))


@cli.command("sandbox")
@click.option("--port", type=int, default=8765, show_default=True, help="0 picks a free port.")
@click.option("--vendor", "vendors", multiple=True, help="Serve only these vendors (repeatable).")
def sandbox(port: int, vendors: tuple[str, ...]) -> None:
    """Serve local simulators of the vendor APIs on loopback until stopped."""
    from syncd.logs import configure
    from syncd.sandbox import serve
    from syncd.sandbox.registry import UnknownVendorError

    configure()
    try:
        serve(port, list(vendors) or None)
    except UnknownVendorError as error:
        click.echo(str(error), err=True)
        sys.exit(EXIT_CONFIG)


def main() -> None:
    """The console script: a state store problem ends in a sentence and an exit code, never a
    traceback, whichever command met it."""
    from sqlalchemy.exc import OperationalError

    from syncd.state.db import LOCK_WAIT_SECONDS, is_locked
    from syncd.state.migrate import StoreUnusable

    try:
        cli(prog_name="syncd")
    except StoreUnusable as error:
        click.echo(f"cannot use the state store: {error}", err=True)
        sys.exit(EXIT_CONFIG)
    except OperationalError as error:
        if not is_locked(error):
            raise
        click.echo(
            f"the state store {_STORE['where']} is locked by another writer: waited "
            f"{LOCK_WAIT_SECONDS:g} s for it; nothing was changed by this command, try again "
            "once the other process is done",
            err=True,
        )
        sys.exit(EXIT_UNREACHABLE)
