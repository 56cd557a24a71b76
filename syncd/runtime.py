"""Builds running parts from the configuration: state store, adapters, push and pull settings.

The CLI, the daemon and the demo all go through here, so a connector behaves
the same whichever way it is started.
"""

from __future__ import annotations

import threading

from sqlalchemy import Engine, inspect

from syncd.config import Config, ConnectorConfig
from syncd.engine.diff import DiffPolicy
from syncd.engine.guard import Threshold
from syncd.engine.pull.run import PullSettings
from syncd.engine.push.jobs import JobPolling
from syncd.engine.push.run import PushSettings
from syncd.state.db import make_engine
from syncd.state.migrate import upgrade
from syncd.vendors.base import Adapter, AdapterContext
from syncd.vendors.registry import load_adapter_class


class StateNotReady(Exception):
    """The state store has no schema and auto_migrate is off."""


def open_state(config: Config) -> Engine:
    """The state store's engine, migrated first when ``state.auto_migrate`` (the default)."""
    url = config.state.url.get_secret_value()
    if config.state.auto_migrate:
        upgrade(url)
    engine = make_engine(url)
    if not inspect(engine).has_table("links"):
        engine.dispose()
        raise StateNotReady("the state store has no schema: run `syncd db upgrade`")
    return engine


def build_adapter(config: Config, connector: ConnectorConfig, **options) -> Adapter:
    """The vendor adapter of ``connector``, sharing rate limits through the state store."""
    adapter_class = load_adapter_class(connector.target.type)
    creatable = frozenset(rule.kind for rule in connector.groups if rule.create_missing)
    context = AdapterContext(
        connector=connector.name,
        state_url=config.state.url.get_secret_value(),
        match=connector.users.match,
        options={"creatable_group_kinds": creatable, **options},
    )
    return adapter_class(connector.target, context)


def pull_options(connector: ConnectorConfig) -> dict:
    """The pull settings adapters read: where a first pull starts, overlap, budget share."""
    if connector.pull is None:
        return {}
    return {
        "start_date": connector.pull.start_date,
        "overlap": connector.pull.overlap,
        "budget_share": connector.pull.budget_share,
    }


def pull_settings(
    config: Config,
    name: str,
    engine: Engine,
    *,
    adapter: Adapter | None = None,
    stop: threading.Event | None = None,
) -> PullSettings:
    """One connector's pull; the caller closes ``settings.sink`` when done."""
    from syncd.sinks import open_sink

    connector = config.connector(name)
    if connector.pull is None:
        raise ValueError(f"connector {name!r} has no pull section")
    sink_name = connector.pull.sink
    return PullSettings(
        connector=connector.name,
        engine=engine,
        adapter=adapter or build_adapter(config, connector, **pull_options(connector)),
        sink=open_sink(
            sink_name, config.sinks[sink_name], state_url=config.state.url.get_secret_value()
        ),
        sink_name=sink_name,
        stop=stop or threading.Event(),
    )


def push_settings(
    config: Config,
    name: str,
    engine: Engine,
    *,
    adapter: Adapter | None = None,
    stop: threading.Event | None = None,
    only: frozenset[str] | None = None,
) -> PushSettings:
    from syncd.mapping import compile_connector
    from syncd.sources import open_source

    connector = config.connector(name)
    source_config = config.sources[connector.source]
    source = open_source(connector.source, source_config)
    adapter = adapter or build_adapter(config, connector, **pull_options(connector))
    guard = connector.guard.max_deactivations
    return PushSettings(
        connector=connector.name,
        engine=engine,
        adapter=adapter,
        mapper=compile_connector(connector),
        key=source_config.key,
        records=source.records,
        policy=DiffPolicy(
            on_missing=connector.users.on_missing,
            # Only those the mapping gives: a resumed create re-reads the source for them.
            write_only_fields=adapter.capabilities.write_only_fields
            & frozenset(connector.users.fields),
        ),
        threshold=Threshold(percent=guard.percent, absolute=guard.absolute),
        match=connector.users.match,
        polling=JobPolling(give_up_after=connector.target.job_timeout),
        only=only or None,
        stop=stop or threading.Event(),
    )


def push_once(
    config: Config,
    name: str,
    engine: Engine,
    *,
    stop: threading.Event | None = None,
    dry_run: bool = False,
    only: frozenset[str] | None = None,
):
    """One push cycle of ``name`` with an adapter built for it and closed after."""
    from syncd.engine.push.run import run_push

    settings = push_settings(config, name, engine, stop=stop, only=only)
    try:
        return run_push(settings, dry_run=dry_run)
    finally:
        settings.adapter.close()


def pull_once(
    config: Config,
    name: str,
    engine: Engine,
    *,
    stop: threading.Event | None = None,
    adapter: Adapter | None = None,
):
    """One pull cycle of ``name``; its adapter (built here unless given) and sink are closed."""
    from syncd.engine.pull.run import run_pull

    settings = pull_settings(config, name, engine, adapter=adapter, stop=stop)
    try:
        return run_pull(settings)
    finally:
        settings.sink.close()
        settings.adapter.close()
