"""Shared fixtures: every state-store test runs on SQLite and, when configured, PostgreSQL.

``SYNCD_TEST_DATABASE_URL`` names a PostgreSQL database the tests may use; each
test gets its own schema in it, dropped afterwards. With
``SYNCD_REQUIRE_POSTGRES=1`` (set by CI) a skipped PostgreSQL test fails the run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import structlog
from hypothesis import HealthCheck, settings
from sqlalchemy import create_engine, text

# CI machines are small and shared: judge properties, not the speed of generating examples.
settings.register_profile("syncd", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("syncd")

PG_URL_ENV = "SYNCD_TEST_DATABASE_URL"
REQUIRE_PG_ENV = "SYNCD_REQUIRE_POSTGRES"


def _with_search_path(url: str, schema: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture(autouse=True)
def _default_structlog() -> Iterator[None]:
    """Each test starts from structlog's defaults: a test that configured logging in this
    worker (at ``info``) would otherwise hide the debug events another test captures."""
    yield
    structlog.reset_defaults()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose connections see a fresh, empty schema of the test PostgreSQL."""
    base = os.environ.get(PG_URL_ENV)
    if not base:
        pytest.skip(f"{PG_URL_ENV} is not set")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _with_search_path(base, schema)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request) -> str:
    """An empty state-store URL, once for SQLite and once for PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def migrated_db_url(db_url: str) -> str:
    """``db_url`` with every migration applied."""
    from syncd.state.migrate import upgrade

    upgrade(db_url)
    return db_url


def pytest_collection_modifyitems(config, items) -> None:
    if os.environ.get(REQUIRE_PG_ENV) == "1" and not os.environ.get(PG_URL_ENV):
        raise pytest.UsageError(f"{REQUIRE_PG_ENV}=1 but {PG_URL_ENV} is not set")


_skipped_postgres: list[str] = []


def pytest_runtest_logreport(report) -> None:
    if report.skipped and "postgres" in report.keywords:
        _skipped_postgres.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus) -> None:
    """CI must prove the PostgreSQL half ran: any skipped PostgreSQL test fails the run."""
    if os.environ.get(REQUIRE_PG_ENV) == "1" and _skipped_postgres:
        print(
            f"\n{len(_skipped_postgres)} PostgreSQL tests were skipped, e.g. {_skipped_postgres[0]}"
        )
        session.exitstatus = 1


@pytest.fixture(scope="session")
def ralph_credentials(tmp_path_factory) -> Path:
    """Basic-auth credentials written once by ``ralph auth -w`` (tests/support/ralph.py)."""
    from tests.support.ralph import write_credentials

    return write_credentials(tmp_path_factory.mktemp("ralph-auth"))


@pytest.fixture
def start_ralph(tmp_path, ralph_credentials) -> Iterator[Callable[..., Any]]:
    """Start a real Ralph LRS on loopback (``page_size`` statements a page); stopped after."""
    from tests.support.ralph import Ralph

    started: list[Ralph] = []

    def start(page_size: int = 100) -> Ralph:
        lrs = Ralph(tmp_path / f"ralph-{len(started)}", ralph_credentials, page_size=page_size)
        started.append(lrs)
        return lrs.__enter__()

    yield start
    for lrs in reversed(started):
        lrs.__exit__(None, None, None)
