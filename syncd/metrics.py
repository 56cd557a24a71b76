"""Every Prometheus metric of syncd, defined once, on prometheus-client's default registry.

The default registry (``prometheus_client.REGISTRY``) is used on purpose: ``/metrics``
then also shows the process collectors (CPU, memory, open files) without extra
wiring, and every module records into the same place. Counters get the
``_total`` suffix from prometheus-client. Label values are vendor, connector and
outcome names, never personal data.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

VENDOR_API_CALLS = Counter(
    "syncd_vendor_api_calls",
    "HTTP requests sent to a vendor API (token requests and retries included), by answer status; "
    "status is 'error' when no answer came",
    ["vendor", "status"],
)
VENDOR_CALL_SECONDS = Histogram(
    "syncd_vendor_call_duration_seconds",
    "Time from sending a vendor request to its answer's headers",
    ["vendor"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
RATE_LIMIT_WAIT_SECONDS = Counter(
    "syncd_rate_limit_wait_seconds",
    "Seconds calls spent waiting for the credential's rate limit (windows and 429 pauses)",
    ["vendor"],
)
RATE_LIMITED = Counter(
    "syncd_vendor_rate_limited",
    "429 Too Many Requests answers received from a vendor",
    ["vendor"],
)
VENDOR_RETRIES = Counter(
    "syncd_vendor_retries",
    "Vendor calls retried after a timeout, a lost connection or a 5xx, by reason",
    ["vendor", "reason"],
)
OPERATIONS = Counter(
    "syncd_operations",
    "Operations carried out by connectors, by kind (create, deactivate, ...) and outcome",
    ["connector", "kind", "outcome"],
)
QUEUE_DEPTH = Gauge(
    "syncd_queue_depth",
    "Operations of a connector waiting in the outbox",
    ["connector"],
)
LAST_SUCCESS = Gauge(
    "syncd_last_success_timestamp_seconds",
    "Unix time of the last successful cycle of a connector and direction (push or pull)",
    ["connector", "direction"],
)


def render() -> tuple[bytes, str]:
    """The ``/metrics`` body and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def record_cycle_metrics(connector: str, direction: str, status: dict) -> None:
    """Queue depth and last success of a finished cycle, from the values written to sync_status.

    Only the push outbox is a queue; a pull's parked results are not counted as queue depth.
    """
    if direction == "push":
        QUEUE_DEPTH.labels(connector).set(status.get("pending_ops") or 0)
    finished = status.get("last_success_at")
    if finished is not None:
        LAST_SUCCESS.labels(connector, direction).set(finished.timestamp())


RATE_LIMIT_EFFECTIVE = Gauge(
    "syncd_rate_limit_effective",
    "Calls syncd allows itself per window of a credential: the configured limit, lowered "
    "after a 429 its own count did not expect and growing back after (shared through the "
    "state store); credential is the start of the credential's hash, never the secret",
    ["vendor", "credential", "window"],
)
