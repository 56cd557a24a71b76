"""Every Prometheus metric of syncd, declared once, on prometheus-client's default registry.

The default registry (``prometheus_client.REGISTRY``) is used on purpose: ``/metrics``
then also shows the process collectors (CPU, memory, open files) without extra
wiring, and every module records into the same place. Counters get the
``_total`` suffix from prometheus-client. Label values are vendor, connector and
outcome names, never personal data.

The metrics are registered, and prometheus-client imported, when the first one is recorded
or ``/metrics`` is rendered: importing prometheus-client is a tenth of a short command's
start-up. A one-shot command of the command line records none (``set_recording``): its
registry would end with the process, unread. The daemon, which serves them, records all.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from syncd import __version__

_recording = True
_registered: dict[str, Any] = {}
_registering = threading.Lock()
_DECLARED: list[Metric] = []


class Metric:
    """One metric as declared here; the prometheus-client metric behind it is made when any
    metric is first recorded, with all the others, so ``/metrics`` always lists every one."""

    __slots__ = ("documentation", "kind", "labelnames", "name", "options")

    def __init__(
        self, kind: str, name: str, documentation: str, labelnames: list[str], **options: Any
    ) -> None:
        self.kind, self.name, self.documentation = kind, name, documentation
        self.labelnames, self.options = labelnames, options
        _DECLARED.append(self)

    def labels(self, *values: str) -> Any:
        """The child to ``inc``, ``set`` or ``observe``: a no-op one while not recording."""
        if not _recording:
            return _NOT_RECORDED
        return _registry()[self.name].labels(*values)


class _NotRecorded:
    def inc(self, amount: float = 1) -> None:
        pass

    def set(self, value: float) -> None:
        pass

    def observe(self, amount: float) -> None:
        pass


_NOT_RECORDED = _NotRecorded()


def _registry() -> dict[str, Any]:
    """Every declared metric, registered in prometheus-client's default registry once."""
    if not _registered:
        with _registering:
            if not _registered:
                import prometheus_client

                made = {
                    m.name: getattr(prometheus_client, m.kind)(
                        m.name, m.documentation, m.labelnames, **m.options
                    )
                    for m in _DECLARED
                }
                made[BUILD_INFO.name].labels(__version__).set(1)
                _registered.update(made)
    return _registered


def set_recording(recording: bool) -> None:
    """Whether this process records metrics (it does unless told otherwise). The command
    line turns it off: nothing reads a one-shot command's metrics. The daemon turns it on
    and registers every metric before its first cycle and scrape."""
    global _recording
    _recording = recording
    if recording:
        _registry()


VENDOR_API_CALLS = Metric(
    "Counter",
    "syncd_vendor_api_calls",
    "HTTP requests sent to a vendor API (token requests and retries included), by answer status; "
    "status is 'error' when no answer came",
    ["vendor", "connector", "status"],
)
VENDOR_CALL_SECONDS = Metric(
    "Histogram",
    "syncd_vendor_call_duration_seconds",
    "Time from sending a vendor request to its answer's headers",
    ["vendor", "connector"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
RATE_LIMIT_WAIT_SECONDS = Metric(
    "Counter",
    "syncd_rate_limit_wait_seconds",
    "Seconds calls spent waiting for the credential's rate limit (windows and 429 pauses)",
    ["vendor", "connector"],
)
RATE_LIMITED = Metric(
    "Counter",
    "syncd_vendor_rate_limited",
    "429 Too Many Requests answers received from a vendor",
    ["vendor", "connector"],
)
VENDOR_RETRIES = Metric(
    "Counter",
    "syncd_vendor_retries",
    "Vendor calls retried after a timeout, a lost connection or a 5xx, by reason",
    ["vendor", "connector", "reason"],
)
OPERATIONS = Metric(
    "Counter",
    "syncd_operations",
    "Operations carried out by connectors, by kind (create, deactivate, ...) and outcome",
    ["connector", "kind", "outcome"],
)
CYCLES = Metric(
    "Counter",
    "syncd_cycles",
    "Cycles that ended, by outcome: success, partial (some records or operations failed), "
    "failed (a vendor, source, sink or the store could not be used), guarded (a safety "
    "guard stopped it), skipped (held back by quarantine, or another process ran it), "
    "stopped (a shutdown ended it early)",
    ["connector", "direction", "outcome"],
)
CYCLE_SECONDS = Metric(
    "Histogram",
    "syncd_cycle_duration_seconds",
    "How long a cycle took, from taking the connector's lease to its summary line",
    ["connector", "direction"],
    buckets=(1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0),
)
QUEUE_DEPTH = Metric(
    "Gauge",
    "syncd_queue_depth",
    "Operations of a connector waiting in the outbox (the same as syncd_pending_operations)",
    ["connector"],
)
PENDING_OPERATIONS = Metric(
    "Gauge",
    "syncd_pending_operations",
    "Operations of a connector waiting in the outbox, as syncd status shows them",
    ["connector"],
)
OPEN_ERRORS = Metric(
    "Gauge",
    "syncd_open_errors",
    "Unresolved rows of syncd errors of a connector (records and operations, every direction)",
    ["connector"],
)
QUARANTINED = Metric(
    "Gauge",
    "syncd_quarantined",
    "1 while a connector and direction is in quarantine after failed cycles, else 0",
    ["connector", "direction"],
)
GUARD_TRIPPED = Metric(
    "Gauge",
    "syncd_guard_tripped",
    "1 while a connector and direction waits behind a tripped safety guard (syncd approve), else 0",
    ["connector", "direction"],
)
UNLINKED_RESULTS = Metric(
    "Gauge",
    "syncd_unlinked_results",
    "Learning results of LMS accounts no HR person is linked to (administrators, external "
    "learners), kept until linked; 0 with pull.unlinked: ignore. Never a failure",
    ["connector"],
)
LAST_SUCCESS = Metric(
    "Gauge",
    "syncd_last_success_timestamp_seconds",
    "Unix time of the last cycle of a connector and direction that ended in success (not partial)",
    ["connector", "direction"],
)
BUILD_INFO = Metric(
    "Gauge", "syncd_build_info", "Always 1; the running syncd's version", ["version"]
)

CERTIFICATIONS_EXPIRING = Metric(
    "Gauge",
    "syncd_certifications_expiring",
    "Certifications among the learning results a connector delivered that expire after now and "
    "no later than now plus 'within' (set after each pull cycle and when the daemon starts)",
    ["connector", "within"],
)


def render() -> tuple[bytes, str]:
    """The ``/metrics`` body and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

    _registry()
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def record_cycle(
    connector: str, direction: str, outcome: str, seconds: float, succeeded_at: datetime | None
) -> None:
    """A finished cycle: its outcome, its length, and when it succeeded (only if it did)."""
    CYCLES.labels(connector, direction, outcome).inc()
    CYCLE_SECONDS.labels(connector, direction).observe(seconds)
    if succeeded_at is not None:
        LAST_SUCCESS.labels(connector, direction).set(succeeded_at.timestamp())


def record_pending(connector: str, pending: int) -> None:
    """The outbox's count of waiting operations of ``connector``."""
    PENDING_OPERATIONS.labels(connector).set(pending)
    QUEUE_DEPTH.labels(connector).set(pending)


def record_unlinked(connector: str, count: int) -> None:
    """Results of LMS accounts linked to nobody, kept apart (0 with ``pull.unlinked: ignore``)."""
    UNLINKED_RESULTS.labels(connector).set(count)


RATE_LIMIT_EFFECTIVE = Metric(
    "Gauge",
    "syncd_rate_limit_effective",
    "Calls syncd allows itself per window of a credential: the configured limit, lowered "
    "after a 429 its own count did not expect and growing back after (shared through the "
    "state store); credential is the start of the credential's hash, never the secret",
    ["vendor", "credential", "window"],
)
