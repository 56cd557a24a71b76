"""Builds a connector's reconciliation: the push's parts and the ``reconcile:`` policies."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine

from syncd.assemble.cycles import push_settings
from syncd.config import Config
from syncd.engine.reconcile import Policies, ReconcileResult, ReconcileSettings, run_reconcile
from syncd.vendors.base import Adapter


def reconcile_settings(
    config: Config,
    name: str,
    engine: Engine,
    *,
    apply: bool = False,
    adapter: Adapter | None = None,
    stop: threading.Event | None = None,
) -> ReconcileSettings:
    """``name``'s reconciliation; its policies default when the connector has no section."""
    section = config.connector(name).reconcile
    policies = (
        Policies(
            on_drift=section.on_drift,
            on_orphan=section.on_orphan,
            on_missing_remote=section.on_missing_remote,
            on_unlinked_match=section.on_unlinked_match,
        )
        if section is not None
        else Policies()
    )
    push = push_settings(config, name, engine, adapter=adapter, stop=stop)
    return ReconcileSettings(push=push, policies=policies, apply=apply)


def reconcile_once(config: Config, name: str, engine: Engine, **options: Any) -> ReconcileResult:
    """One reconciliation of ``name`` (``options`` as ``reconcile_settings``'); its adapter,
    built here unless given, is closed after."""
    settings = reconcile_settings(config, name, engine, **options)
    try:
        return run_reconcile(settings)
    finally:
        settings.push.adapter.close()
