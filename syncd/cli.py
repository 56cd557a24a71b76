"""The ``syncd`` command line: parse, call one library function, print. No logic here.

Exit codes (SPEC §2): 0 success; 1 some records or operations failed; 2
configuration or usage error; 3 a safety guard stopped the run; 4 a vendor or
the state store could not be reached or refused our credentials.
"""

from __future__ import annotations

import gc
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:
    from sqlalchemy import Engine

EXIT_OK, EXIT_PARTIAL, EXIT_CONFIG, EXIT_GUARDED, EXIT_UNREACHABLE = 0, 1, 2, 3, 4


def _default_config_path() -> str:
    return os.environ.get("SYNCD_CONFIG") or "syncd.yaml"


_QUIETER = "syncd.quieter"
"""Where ``-q`` minus ``-v`` is counted, in the invocation's root context: before or
after the command's name, they add up."""


def _count_verbosity(ctx: click.Context, param: click.Parameter, value: int) -> None:
    step = value if param.name == "quiet" else -value
    meta = ctx.find_root().meta
    meta[_QUIETER] = meta.get(_QUIETER, 0) + step


def _quieter() -> int:
    ctx = click.get_current_context(silent=True)
    return ctx.find_root().meta.get(_QUIETER, 0) if ctx is not None else 0


def verbosity_options(func: Callable) -> Callable:
    """``-v`` (more: debug shows every vendor call) and ``-q`` (less: warnings, then errors
    only), each step away from the configured ``log.level``."""
    func = click.option(
        "-q", "--quiet", count=True, expose_value=False, callback=_count_verbosity,
        help="Log less than log.level (repeatable).",
    )(func)
    return click.option(
        "-v", "--verbose", count=True, expose_value=False, callback=_count_verbosity,
        help="Log more than log.level (repeatable): -v shows every vendor call.",
    )(func)


def config_option(func: Callable) -> Callable:
    return verbosity_options(
        click.option(
            "--config",
            "config_path",
            default=_default_config_path,
            show_default="$SYNCD_CONFIG, else ./syncd.yaml",
            help="Path of the YAML configuration.",
        )(func)
    )


def json_option(func: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(
        func
    )


@contextmanager
def _starting() -> Iterator[None]:
    """Start-up without the cyclic garbage collector, its leftovers frozen after.

    Start-up builds a few hundred thousand objects that live as long as the process
    (modules, SQLAlchemy's and pydantic's machinery, the configuration) and frees almost
    none in cycles: the collector's passes over them, triggered by the allocations
    alone, find nothing and were a sixth of a short command's time. Frozen afterwards,
    they are also left out of every later pass of a long cycle or the daemon. Reference
    counting frees as usual throughout, and the collector is back once start-up is done.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if collecting:
            gc.enable()


def _load(config_path: str):
    """The validated configuration, or exit 2 listing every problem."""
    with _starting():
        return _load_config(config_path)


def _load_config(config_path: str):
    from syncd.assemble import load_config
    from syncd.config import ConfigError
    from syncd.logs import configure

    try:
        config = load_config(config_path)
    except ConfigError as error:
        click.echo(str(error), err=True)
        sys.exit(EXIT_CONFIG)
    from syncd.config import secrets
    from syncd.logs import shifted_level
    from syncd.state.db import describe_store

    level = shifted_level(config.log.level, _quieter())
    configure(config.log.format, level, secrets(config))
    _invocation().store = describe_store(config.state.url.get_secret_value())
    return config


@dataclass(slots=True)
class Invocation:
    """What one command line learned on its way, for the messages its errors print; the
    root context's object, handed in by ``main`` so it outlives the command's context."""

    store: str = "(not yet opened)"  # where the configured state store is (no secrets)


def _invocation() -> Invocation:
    return click.get_current_context().ensure_object(Invocation)


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
        f"cannot open the state store ({_invocation().store}): {redactor.redact_text(reason)}",
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
@verbosity_options
@click.pass_context
def cli(ctx: click.Context) -> None:
    """syncd keeps LMS accounts in line with an HR system and carries learning results back."""
    ctx.ensure_object(Invocation)


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


@config_group.command("schema")
def config_schema() -> None:
    """Print the configuration's JSON Schema, for editors (no configuration is read)."""
    from syncd.config.schema.json_schema import config_json_schema

    click.echo(json.dumps(config_json_schema(), indent=2))


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
@click.option("--wide", is_flag=True, help="Every column, full times and whole errors.")
def status(config_path: str, as_json: bool, wide: bool) -> None:
    """Print the status table: one row per connector and direction (times in UTC)."""
    from sqlalchemy import inspect

    from syncd.state.status import STATUS_COLUMNS, status_rows
    from syncd.status_table import print_status

    config = _load(config_path)
    engine = _state_engine(config)
    rows = status_rows(engine) if inspect(engine).has_table("sync_status") else []
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    print_status(rows, STATUS_COLUMNS, wide=wide)


@cli.command("errors")
@click.argument("name")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per error row.")
def errors(name: str, config_path: str, as_json: bool) -> None:
    """Records and operations of NAME that failed, grouped by reason, and how each is retried:
    transient ones by syncd itself, the others once the record or the vendor side is fixed."""
    from sqlalchemy import inspect

    from syncd.state.status import error_rows, grouped_errors

    config = _load(config_path)
    _connector_or_exit(config, name)
    engine = _state_engine(config)
    rows = error_rows(engine, name) if inspect(engine).has_table("sync_errors") else []
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"No errors for {name}.")
        return
    # Reasons are printed whole, one group of identical ones at a time: they are what a
    # person acts on, and a table would cut them into slivers.
    for group in grouped_errors(rows):
        when = f", next attempt {group['next_attempt_at']}" if group["next_attempt_at"] else ""
        click.echo(
            f"{group['count']} x {group['direction']} {group['operation']} "
            f"[{group['kind']}, retry: {group['retry']}{when}]"
        )
        click.echo(f"    {group['reason']}")
        click.echo(f"    {group['people']}")
    click.echo(
        "\nretry: automatic = syncd tries again by itself (a transient fault of the vendor); "
        f"syncd retry = it stopped trying, `syncd retry {name}` sends it again; after a fix = "
        "the record (or the LMS) must change first. --json lists every row."
    )


@cli.command("trace")
@click.argument("name")
@click.argument("hr_key")
@config_option
@json_option
def trace(name: str, hr_key: str, config_path: str, as_json: bool) -> None:
    """What syncd knows and did about one person of connector NAME."""
    from syncd.assemble.cycles import next_push_of
    from syncd.state.trace import person_trace

    config = _load(config_path)
    _connector_or_exit(config, name)

    def both(engine) -> dict[str, Any]:
        return {**person_trace(engine, name, hr_key),
                "next_push": next_push_of(config, name, engine, hr_key)}

    found = _on_state(config, both)
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    _print_trace(found)


@cli.command("results")
@click.argument("name")
@click.option(
    "--expiring-within",
    "within",
    metavar="DURATION",
    default=None,
    help="List only certifications that expire within this time (e.g. 30d). Without it every "
    "result is listed and this window (the connector's first pull.expiring_within, else 30d) "
    "marks the ones expiring soon.",
)
@config_option
@json_option
def results(name: str, within: str | None, config_path: str, as_json: bool) -> None:
    """Learning results delivered for connector NAME, per person, and which certifications
    expire soon."""
    from syncd.config.schema.durations import format_duration, parse_duration
    from syncd.state.learning import list_results

    config = _load(config_path)
    pull = _connector_or_exit(config, name).pull
    if pull is None:
        click.echo(f"connector {name!r} has no pull section: it delivers no results", err=True)
        sys.exit(EXIT_CONFIG)
    try:
        window = parse_duration(within) if within else _first_window(pull.expiring_within)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--expiring-within") from None
    with _connector_state(config_path, name) as engine:
        listing = list_results(engine, name, pull.sink, within=window, expiring_only=bool(within))
    if as_json:
        click.echo(json.dumps(_listing_json(listing, format_duration(window)), indent=2))
        return
    _print_results(listing, format_duration(window), expiring_only=bool(within))


def _first_window(windows: list) -> Any:
    from datetime import timedelta

    return windows[0] if windows else timedelta(days=30)


def _listing_json(listing, window: str) -> dict[str, Any]:
    return {
        "connector": listing.connector,
        "sink": listing.sink,
        "as_of": listing.as_of.isoformat(),
        "expiring_within": window,
        "expiring": len(listing.expiring()),
        "not_kept": listing.not_kept,
        "people": [
            {"hr_key": hr_key, "results": found} for hr_key, found in listing.people.items()
        ],
    }


def _print_results(listing, window: str, *, expiring_only: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 160)  # a file gets whole rows
    what = f"certifications expiring within {window}" if expiring_only else "learning results"
    if not listing.people:
        console.print(f"No {what} delivered for {listing.connector}.")
    else:
        table = Table(title=f"{what} of {listing.connector} (sink {listing.sink})")
        columns = ("person", "course", "status", "score", "completed", "credits", "hours")
        for column in (*columns, "certification", "expires"):
            table.add_column(column)
        for hr_key, found in listing.people.items():
            for number, result in enumerate(found):
                table.add_row(*_result_cells(hr_key if number == 0 else "", result),
                              end_section=number == len(found) - 1)  # fmt: skip
        console.print(table)
    soon = listing.expiring()
    if not expiring_only:
        console.print(f"{len(soon)} certification(s) expire within {window}.")
    if listing.not_kept:
        console.print(
            f"{listing.not_kept} result(s) were delivered before syncd kept their content; "
            "they are listed once they change."
        )


def _result_cells(person: str, result: dict[str, Any]) -> list[str]:
    def shown(name: str) -> str:
        value = result.get(name)
        if isinstance(value, float):
            return str(int(value)) if value.is_integer() else str(value)
        return "" if value is None else str(value)

    course = result["course_name"] or result["course_id"]
    certification = " ".join(
        part for part in (shown("certification_status"), _mark(result["certification"])) if part
    )
    return [
        person,
        course,
        shown("status"),
        shown("score"),
        shown("completed_at")[:10],
        shown("credits"),
        shown("hours"),
        certification,
        shown("certificate_expires_at")[:10],
    ]


def _mark(state: str | None) -> str:
    return {"expired": "(ran out)", "expiring": "(expires soon)"}.get(state or "", "")


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
    click.echo(f"next push: {found['next_push']}")


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


def _plan_shown(as_json: bool) -> Callable[[Any], None]:
    """Where a dry run's operations go as they are planned: one JSON line each with
    ``--json``, else nowhere (the table counts them: ``PushResult.planned``)."""
    if as_json:
        return lambda op: click.echo(json.dumps(_operation_json(op)))
    return lambda op: None


def _print_plan(result, as_json: bool) -> None:
    """What a dry run prints once it is over (its --json operations went as planned)."""
    from syncd.forecast_text import forecast_lines

    if as_json:
        if result.forecast is not None:  # the prediction goes beside the operations
            for line in forecast_lines(result.forecast):
                click.echo(line, err=True)
        return
    rows = [{"operation": kind, "count": n} for kind, n in result.planned.items()]
    _print_table("planned operations", rows, ("operation", "count"), "Nothing to do.")
    if result.forecast is not None:
        for line in forecast_lines(result.forecast):
            click.echo(line)
    for error in result.errors:
        click.echo(f"not planned: {error}", err=True)
    for note in result.notes:
        click.echo(note)
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


def _run_push(
    config, name: str, dry_run: bool, only: tuple[str, ...] = (), as_json: bool = False
):
    from syncd.assemble import push_once
    from syncd.shutdown import SHUTDOWN

    engine = _open_state_or_exit(config)
    show = _plan_shown(as_json) if dry_run else None
    try:
        return push_once(
            config, name, engine, stop=SHUTDOWN, dry_run=dry_run, only=frozenset(only), show=show
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
    for note in getattr(result, "notes", ()):
        click.echo(note)
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
@click.option("--progress-every", "progress_every", default="1m", show_default=True,
              metavar="DURATION",
              help="Without a terminal: how often to log the progress (on one: a live line).")
@config_option
def sync(
    name: str, direction: str, dry_run: bool, as_json: bool, only: tuple[str, ...],
    progress_every: str, config_path: str,
) -> None:
    """Run one cycle of connector NAME now, then exit.

    On a terminal a live line shows the progress (operations done of planned, calls, the
    wait for a rate limit and when it ends, ETA); otherwise a progress line is logged
    every minute. SIGTERM or SIGINT stops it between batches; what was not sent stays in
    the outbox for the next cycle, and the exit code is 128 + the signal number.
    """
    with _starting():
        from syncd.config import parse_duration
        from syncd.progress_display import showing_progress
        from syncd.shutdown import received_signal, stop_on_signals

    try:
        interval = parse_duration(progress_every).total_seconds()
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--progress-every") from None
    config = _load(config_path)
    connector = _connector_or_exit(config, name)
    codes = []
    with stop_on_signals(), showing_progress(interval):
        if direction in ("push", "both"):
            result = _run_push(config, name, dry_run, only, as_json)
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


@cli.command("health")
@config_option
def health(config_path: str) -> None:
    """Ask the running daemon's /healthz on server.listen: exit 0 when healthy, else 1.

    For container health checks: the port comes from the configuration.
    """
    from syncd.daemon.probe import probe

    config = _load(config_path)
    if config.server.port == 0:
        click.echo("server.listen has port 0 (any free port): set a fixed port to probe", err=True)
        sys.exit(EXIT_CONFIG)
    found = probe(config.server)
    click.echo(found.says, err=not found.healthy)
    sys.exit(EXIT_OK if found.healthy else EXIT_PARTIAL)


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
    result = _run_push(config, name, dry_run=True, only=only, as_json=as_json)
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
    with _starting():
        from sqlalchemy.exc import OperationalError

        from syncd.metrics import set_recording
        from syncd.state.db import LOCK_WAIT_SECONDS, is_locked
        from syncd.state.migrate import StoreUnusable

    set_recording(False)  # a command's metrics end with it, unread; the daemon turns them on

    invocation = Invocation()
    try:
        cli(prog_name="syncd", obj=invocation)
    except StoreUnusable as error:
        click.echo(f"cannot use the state store: {error}", err=True)
        sys.exit(EXIT_CONFIG)
    except OperationalError as error:
        if not is_locked(error):
            raise
        click.echo(
            f"the state store {invocation.store} is locked by another writer: waited "
            f"{LOCK_WAIT_SECONDS:g} s for it; nothing was changed by this command, try again "
            "once the other process is done",
            err=True,
        )
        sys.exit(EXIT_UNREACHABLE)
