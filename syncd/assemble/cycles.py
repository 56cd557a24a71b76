"""Builds a connector's parts for one cycle: adapter, source, sink, push and pull settings.

The CLI, the daemon and the demo all go through here, so a connector behaves
the same whichever way it is started. Every client of a credential shares one
rate-limit budget through the state store's engine.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from syncd.assemble.deferred import DeferredAdapter
from syncd.assemble.store import limiter_backend
from syncd.assemble.vendors import adapter_class, vendor_facts
from syncd.config import Config, ConnectorConfig
from syncd.engine.diff import DiffPolicy
from syncd.engine.guard import Threshold
from syncd.engine.push.run import PushResult, Show, run_push
from syncd.engine.push.settings import JobPolling, PushSettings
from syncd.limits.policy import LimitPolicy, as_windows
from syncd.mapping import compile_connector
from syncd.sources import open_source
from syncd.vendors.context import AdapterContext
from syncd.vendors.pulling import NoMemory, PullOptions

if TYPE_CHECKING:
    from syncd.engine.pull.run import PullResult
    from syncd.engine.pull.settings import PullSettings
    from syncd.http import RetryPolicy
    from syncd.vendors.base import Adapter, ResultReader

# What only a pull, a forecast or certifications need is imported where it is used: a push
# cycle's start-up then loads neither the sinks, the LRS client nor the pull engine.


def creatable_group_kinds(connector: ConnectorConfig) -> frozenset[str]:
    """The group kinds whose missing groups may be created: a rule of that kind says so."""
    return frozenset(rule.kind for rule in connector.groups if rule.create_missing)


def adapter_context(
    connector: ConnectorConfig, engine: Engine, *, retry: RetryPolicy | None = None
) -> AdapterContext:
    """What ``connector``'s adapter is given: its settings, the store's limiter backend, and
    what its pull last handed on to its sink."""
    from syncd.state.results import StoredResults

    pull = connector.pull
    return AdapterContext(
        connector=connector.name,
        match=connector.users.match,
        creatable_group_kinds=creatable_group_kinds(connector),
        pull=PullOptions.of(pull),
        limiter=limiter_backend(engine),
        retry=retry,
        results=NoMemory() if pull is None else StoredResults(engine, connector.name, pull.sink),
    )


def build_adapter(
    connector: ConnectorConfig,
    engine: Engine,
    *,
    retry: RetryPolicy | None = None,
    **tunings: Any,
) -> Adapter:
    """The vendor adapter of ``connector``, sharing rate limits through the state store.

    ``tunings`` are keyword arguments the vendor's adapter class takes (tests: clocks, waits).
    """
    context = adapter_context(connector, engine, retry=retry)
    return adapter_class(connector.target.type)(connector.target, context, **tunings)


def results_reader(
    connector: ConnectorConfig, engine: Engine, *, adapter: Adapter | None = None
) -> ResultReader:
    """Where ``connector``'s pull reads (``pull.from``): its vendor (through ``adapter``
    when given; closed unused when the pull reads the LRS alone), its LRS, or both."""
    from syncd.assemble.emails import users_by_email
    from syncd.vendors.combined import pulled_from
    from syncd.vendors.xapi import LrsSource

    pull = connector.pull
    if pull is None:
        raise ValueError(f"connector {connector.name!r} has no pull section")
    lrs = None
    if pull.xapi is not None:
        field = pull.xapi.actor.email_field
        by_email = users_by_email(engine, connector.name, field) if field else None
        lrs = LrsSource(pull.xapi, adapter_context(connector, engine), users_by_email=by_email)
    if not pull.reads_vendor:
        if adapter is not None:
            adapter.close()
        return pulled_from(None, lrs)
    return pulled_from(adapter or build_adapter(connector, engine), lrs)


def pull_settings(
    config: Config,
    name: str,
    engine: Engine,
    *,
    adapter: Adapter | None = None,
    stop: threading.Event | None = None,
) -> PullSettings:
    """One connector's pull; the caller closes ``settings.sink`` and ``settings.adapter``."""
    from syncd.assemble.sinks import open_sink
    from syncd.engine.pull.settings import PullSettings

    connector = config.connector(name)
    if connector.pull is None:
        raise ValueError(f"connector {name!r} has no pull section")
    sink_name = connector.pull.sink
    return PullSettings(
        connector=connector.name,
        engine=engine,
        adapter=results_reader(connector, engine, adapter=adapter),
        sink=open_sink(
            sink_name, config.sinks[sink_name], limiter=limiter_backend(engine), engine=engine
        ),
        sink_name=sink_name,
        stop=stop or threading.Event(),
        expiring_within=tuple(connector.pull.expiring_within),
        unlinked=connector.pull.unlinked,
    )


def record_certifications(config: Config, engine: Engine) -> None:
    """The certifications-expiring gauge of every connector that pulls (daemon start)."""
    from syncd.engine.pull.certifications import record_expiring

    for connector in config.connectors:
        if connector.pull is not None:
            record_expiring(
                engine, connector.name, connector.pull.sink, connector.pull.expiring_within
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
    connector = config.connector(name)
    source_config = config.sources[connector.source]
    source = open_source(connector.source, source_config)
    if adapter is None:
        vendor = connector.target.type
        adapter = DeferredAdapter(  # type: ignore[assignment]
            vendor,
            vendor_facts(vendor),
            connector.target,
            connector.users.match,
            lambda: build_adapter(connector, engine),
        )
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
            leaver_groups=connector.users.on_leave.groups,
        ),
        threshold=Threshold(percent=guard.percent, absolute=guard.absolute),
        match=connector.users.match,
        polling=JobPolling(give_up_after=connector.target.job_timeout),
        only=only or None,
        stop=stop or threading.Event(),
        source=f"source {connector.source!r}",
        limits=LimitPolicy(as_windows(connector.target.rate_limit.windows())),
        pulls_vendor=connector.pull is not None and connector.pull.reads_vendor,
    )


def push_once(
    config: Config,
    name: str,
    engine: Engine,
    *,
    stop: threading.Event | None = None,
    dry_run: bool = False,
    only: frozenset[str] | None = None,
    show: Show | None = None,
) -> PushResult:
    """One push cycle of ``name`` with an adapter built for it and closed after; a dry run
    hands its operations to ``show`` as they are planned (``run_push``)."""
    settings = push_settings(config, name, engine, stop=stop, only=only)
    try:
        return run_push(settings, dry_run=dry_run, show=show)
    finally:
        settings.adapter.close()


def next_push_of(config: Config, name: str, engine: Engine, hr_key: str) -> str:
    """What the next push of ``name`` does for ``hr_key``, and why when it does nothing."""
    from syncd.engine.push.forecast import next_push_for

    settings = push_settings(config, name, engine)
    try:
        return next_push_for(settings, hr_key)
    finally:
        settings.adapter.close()


def pull_once(
    config: Config,
    name: str,
    engine: Engine,
    *,
    stop: threading.Event | None = None,
    adapter: Adapter | None = None,
) -> PullResult:
    """One pull cycle of ``name``; its adapter (built here unless given) and sink are closed."""
    from syncd.engine.pull.run import run_pull

    settings = pull_settings(config, name, engine, adapter=adapter, stop=stop)
    try:
        return run_pull(settings)
    finally:
        settings.sink.close()
        settings.adapter.close()
