"""The state store's tables (SQLAlchemy Core), the single source of the schema.

Alembic migrations in ``migrations/`` are generated from this metadata and a
test proves they match it. ``sync_status``, ``sync_runs`` and ``sync_errors``
are read by users and dashboards directly: their names and SPEC §5 columns are
a contract. No table ever holds a secret.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

Id = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements only INTEGER keys


def _ts(name: str, nullable: bool = True) -> Column:
    return Column(name, DateTime(timezone=True), nullable=nullable)


def _serial_id() -> Column:
    """The surrogate key of a table whose rows have no natural one."""
    return Column("id", Id, primary_key=True, autoincrement=True)


def _connector(*, primary_key: bool = False) -> Column:
    """The connector (its configured name) a row belongs to."""
    if primary_key:
        return Column("connector", String(100), primary_key=True)
    return Column("connector", String(100), nullable=False)


def _hr_key(nullable: bool = False) -> Column:
    """The HR person's key, as the source gives it (normalised to text)."""
    return Column("hr_key", String(255), nullable=nullable)


def _count(name: str, default: int = 0) -> Column:
    """A whole number that is always set: a counter, an attempt number, a weight."""
    return Column(name, Integer, nullable=False, default=default)


RUN_COUNTS = (
    "records_seen",
    "created",
    "updated",
    "deactivated",
    "reactivated",
    "deleted",
    "memberships",
    "delivered",
    "failed",
    "api_calls",
    "unlinked",  # results of LMS accounts linked to nobody (a pull's), not failures
)
"""The counts a ``sync_runs`` row keeps (SPEC §5, and more), in column order."""


# --- links: one row per connector and HR person ------------------------------------------
links = Table(
    "links",
    metadata,
    _serial_id(),
    _connector(),
    _hr_key(),
    Column("remote_id", String(255)),
    Column("status", String(20), nullable=False),  # model.LinkStatus
    Column("active", Boolean, nullable=False, default=True),
    Column("fields", JSON, nullable=False),  # what was last pushed (never a password)
    Column("fields_hash", String(64), nullable=False),
    Column("groups", JSON, nullable=False),
    Column("courses", JSON, nullable=False),
    Column("source_hash", BigInteger),  # digest of HR record + mapping last planned
    _ts("created_at", nullable=False),
    _ts("updated_at", nullable=False),
    UniqueConstraint("connector", "hr_key"),
    Index(None, "connector", "remote_id"),
    # Covers a no-change cycle's one big read (``store.link_digests``) and the guard's count.
    Index(None, "connector", "status", "hr_key", "source_hash"),
    # The links changed since a connector's snapshot was taken (``snapshots.recall``).
    Index(None, "connector", "updated_at"),
)

# --- link_snapshots: the linked people's digests as one row a connector -----------------
# ``snapshots``: checked against the links before use, so it is never the truth, only a
# faster way to read it. Keys joined by NUL (UTF-8); digests as little-endian 64-bit
# integers; ``low_sum``/``high_sum`` the sums of the digests' 32-bit halves.
link_snapshots = Table(
    "link_snapshots",
    metadata,
    _connector(primary_key=True),
    _ts("taken_at", nullable=False),
    Column("linked", BigInteger, nullable=False),
    Column("hashed", BigInteger, nullable=False),
    Column("low_sum", BigInteger, nullable=False),
    Column("high_sum", BigInteger, nullable=False),
    Column("keys", LargeBinary, nullable=False),
    Column("digests", LargeBinary, nullable=False),
    Column("unhashed", LargeBinary, nullable=False),
)

# --- out_of_scope: people the scope leaves out who have no link ---------------------------
# The digest of the record each was last read from (``read.read_people``): while it is the
# same, the person is still out of scope and the scope is not evaluated again.
out_of_scope = Table(
    "out_of_scope",
    metadata,
    _connector(primary_key=True),
    Column("hr_key", String(255), primary_key=True),
    Column("source_hash", BigInteger, nullable=False),
)

# --- operations: the outbox -------------------------------------------------------------
operations = Table(
    "operations",
    metadata,
    _serial_id(),
    _connector(),
    Column("run_id", Id),
    Column("seq", Integer, nullable=False),  # order within the plan
    Column("kind", String(20), nullable=False),  # model.OpKind
    _hr_key(),
    Column("target", String(255)),  # group name / course id for membership operations
    Column("remote_id", String(255)),
    Column("payload", JSON, nullable=False),  # {"fields": ..., "changed": [...], "link": ...}
    Column("state", String(20), nullable=False),  # model.OpState
    _count("attempts"),
    Column("job_id", String(255)),
    Column("error", Text),
    _ts("next_attempt_at"),
    _ts("created_at", nullable=False),
    _ts("updated_at", nullable=False),
    Index(None, "connector", "state"),
    Index(None, "connector", "job_id"),
)

# --- jobs: vendor-side asynchronous work (TalentLMS tasks, HowNow job_ids) --------------
jobs = Table(
    "jobs",
    metadata,
    _serial_id(),
    _connector(),
    Column("vendor", String(40), nullable=False),
    Column("job_id", String(255), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("state", String(20), nullable=False),  # waiting | done | failed | warned | expired
    _count("polls"),
    Column("detail", JSON),  # vendor's final status, warnings, errors
    _ts("submitted_at", nullable=False),
    _ts("last_polled_at"),
    _ts("next_poll_at"),
    _ts("finished_at"),
    UniqueConstraint("connector", "job_id"),
)

# --- cursors: where each incremental pull stopped -----------------------------------------
cursors = Table(
    "cursors",
    metadata,
    _connector(primary_key=True),
    Column("name", String(100), primary_key=True),
    Column("value", JSON, nullable=False),
    _ts("updated_at", nullable=False),
)

# --- parked_results: results of LMS users no HR person is linked to yet ------------------
# An incremental pull never returns them again, so this copy is what gets delivered
# once the person is linked; written in the transaction that moves the cursor past them.
parked_results = Table(
    "parked_results",
    metadata,
    _connector(primary_key=True),
    Column("result_id", String(64), primary_key=True),
    Column("result", JSON, nullable=False),  # what a sink writes, and the attempt
    _ts("parked_at", nullable=False),
)

# --- delivered_results: what each sink already accepted (exactly once per change) ---------
delivered_results = Table(
    "delivered_results",
    metadata,
    _connector(primary_key=True),
    Column("sink", String(100), primary_key=True),
    Column("result_id", String(64), primary_key=True),
    Column("content_hash", String(64), nullable=False),
    _hr_key(nullable=True),
    _ts("delivered_at", nullable=False),
    # What the sink accepted (as ``parked_results.result``), for ``syncd results`` and for
    # adapters that compare what they read with it; NULL for rows delivered before 0003.
    Column("result", JSON),
    _ts("certificate_expires_at"),  # copied out of ``result``: certifications expiring soon
    Index(None, "connector", "sink", "certificate_expires_at"),
)

# --- rate limiting shared by every process using one credential ---------------------------
# syncd.state.limiter keeps a log of the calls made with each credential (a sliding window
# per limit) and one row per credential that is locked while a call is admitted.
rate_limits = Table(
    "rate_limits",
    metadata,
    Column("credential", String(64), primary_key=True),  # a hash, never the credential
    Column("paused_until", Float, nullable=False, default=0.0),  # epoch seconds; after a 429
    Column("paused_at", Float, nullable=False, default=0.0),  # when that pause was set
    _count("strikes"),  # consecutive 429s, for backoff
    Column("horizon", Float, nullable=False, default=0.0),  # longest window seen: log retention
    # The throttle after 429s our count did not expect: the share of each limit allowed
    # right after the last decrease, and when that was (it grows back from there).
    Column("scale", Float, nullable=False, default=1.0, server_default="1"),
    Column("scaled_at", Float, nullable=False, default=0.0, server_default="0"),
)

rate_limit_calls = Table(
    "rate_limit_calls",
    metadata,
    _serial_id(),
    Column("credential", String(64), nullable=False),
    # Latest moment the call can have reached the vendor (epoch seconds): the grant time
    # plus the longest a request may take while it is in flight, its end once answered.
    Column("at", Float, nullable=False),
    _count("weight", default=1),
    # NULL: counts in every window. Set: calls another client made with the same key,
    # learned from the vendor's X-RateLimit-Remaining, counted in that window only.
    Column("window_seconds", Float),
    Index(None, "credential", "at"),
)

# --- leases: one cycle per connector across replicas ----------------------------------------
leases = Table(
    "leases",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("holder", String(200), nullable=False),
    _ts("expires_at", nullable=False),
)

# --- the contract tables (SPEC §5) ----------------------------------------------------------
sync_status = Table(
    "sync_status",
    metadata,
    _connector(primary_key=True),
    Column("direction", String(10), primary_key=True),  # push | pull
    Column("state", String(20), nullable=False),  # idle running failed guarded paused
    _ts("last_started_at"),
    _ts("last_finished_at"),
    _ts("last_success_at"),
    _ts("next_run_at"),
    _count("pending_ops"),
    _count("failed_ops"),
    Column("last_error", Text),
    Column("approved", Boolean, nullable=False, default=False),  # `syncd approve`, used once
    Column("last_run_id", Id),
    # A pull's results of LMS accounts linked to nobody (``pull.unlinked: report``), kept
    # apart from failed_ops: they fail nothing.
    _count("unlinked_results"),
)

sync_runs = Table(
    "sync_runs",
    metadata,
    _serial_id(),
    _connector(),
    Column("direction", String(10), nullable=False),
    _ts("started_at", nullable=False),
    _ts("finished_at"),
    Column("outcome", String(20)),  # success partial failed guarded dry_run aborted
    *(_count(name) for name in RUN_COUNTS),
    Column("detail", Text),
    Index(None, "connector", "direction", "started_at"),
)

sync_errors = Table(
    "sync_errors",
    metadata,
    _serial_id(),
    _connector(),
    Column("direction", String(10), nullable=False, default="push"),
    _hr_key(),  # "" when the record had no key
    Column("operation", String(40), nullable=False),  # validate, map, source, create, ...
    # The operation's group, course or learning path ("" for none): each item a person
    # failed on keeps its own row and reason, and a success closes only its own.
    Column("target", String(255), nullable=False, server_default=""),
    Column("reason", Text, nullable=False),
    _ts("first_seen_at", nullable=False),
    _ts("last_seen_at", nullable=False),
    _count("attempts", default=1),
    Column("resolved_at", DateTime(timezone=True)),
    Column("operation_id", Id),  # outbox row, when the failure is an operation
    # The vendor's passing fault (a 5xx, a timeout, a job that never ended): the operation
    # is tried again by itself; else a refusal of the record, which must change.
    Column("transient", Boolean, nullable=False, default=False, server_default=false()),
    UniqueConstraint("connector", "direction", "hr_key", "operation", "target"),
)
