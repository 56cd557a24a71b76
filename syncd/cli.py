"""The ``syncd`` command line: parse, call one library function, print. No logic here.

Exit codes (SPEC §2): 0 success; 1 some records or operations failed; 2
configuration or usage error; 3 a safety guard stopped the run; 4 a vendor or
the state store could not be reached or refused our credentials.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

import click

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
    from syncd.config import ConfigError, load_config
    from syncd.logs import configure

    try:
        config = load_config(config_path)
    except ConfigError as error:
        click.echo(str(error), err=True)
        sys.exit(EXIT_CONFIG)
    from syncd.config import secrets

    configure(config.log.format, config.log.level, secrets(config))
    return config


def _state_engine(config):
    from sqlalchemy.exc import SQLAlchemyError

    from syncd.state.db import make_engine

    try:
        engine = make_engine(config.state.url.get_secret_value())
        with engine.connect():
            pass
    except SQLAlchemyError as error:
        from syncd.logs import redactor

        click.echo(f"cannot open the state store: {redactor.redact_text(str(error))}", err=True)
        sys.exit(EXIT_UNREACHABLE)
    return engine


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
    from syncd.config import check

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
    _state_engine(config).dispose()
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


def main() -> None:
    cli(prog_name="syncd")
