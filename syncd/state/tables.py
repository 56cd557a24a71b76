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
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
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


# --- links: one row per connector and HR person ------------------------------------------
links = Table(
    "links",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("connector", String(100), nullable=False),
    Column("hr_key", String(255), nullable=False),
    Column("remote_id", String(255)),
    Column("status", String(20), nullable=False),  # model.LinkStatus
    Column("active", Boolean, nullable=False, default=True),
    Column("fields", JSON, nullable=False),  # what was last pushed (never a password)
    Column("fields_hash", String(64), nullable=False),
    Column("groups", JSON, nullable=False),
    Column("courses", JSON, nullable=False),
    Column("source_hash", String(64)),  # hash of HR record + mapping last seen
    _ts("created_at", nullable=False),
    _ts("updated_at", nullable=False),
    UniqueConstraint("connector", "hr_key"),
    Index(None, "connector", "remote_id"),
)

# --- operations: the outbox -------------------------------------------------------------
operations = Table(
    "operations",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("connector", String(100), nullable=False),
    Column("run_id", Id),
    Column("seq", Integer, nullable=False),  # order within the plan
    Column("kind", String(20), nullable=False),  # model.OpKind
    Column("hr_key", String(255), nullable=False),
    Column("target", String(255)),  # group name / course id for membership operations
    Column("remote_id", String(255)),
    Column("payload", JSON, nullable=False),  # {"fields": ..., "changed": [...], "link": ...}
    Column("state", String(20), nullable=False),  # model.OpState
    Column("attempts", Integer, nullable=False, default=0),
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
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("connector", String(100), nullable=False),
    Column("vendor", String(40), nullable=False),
    Column("job_id", String(255), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("state", String(20), nullable=False),  # waiting | done | failed | warned | expired
    Column("polls", Integer, nullable=False, default=0),
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
    Column("connector", String(100), primary_key=True),
    Column("name", String(100), primary_key=True),
    Column("value", JSON, nullable=False),
    _ts("updated_at", nullable=False),
)

# --- delivered_results: what each sink already accepted (exactly once per change) ---------
delivered_results = Table(
    "delivered_results",
    metadata,
    Column("connector", String(100), primary_key=True),
    Column("sink", String(100), primary_key=True),
    Column("result_id", String(64), primary_key=True),
    Column("content_hash", String(64), nullable=False),
    Column("hr_key", String(255)),
    _ts("delivered_at", nullable=False),
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
    Column("strikes", Integer, nullable=False, default=0),  # consecutive 429s, for backoff
    Column("horizon", Float, nullable=False, default=0.0),  # longest window seen: log retention
)

rate_limit_calls = Table(
    "rate_limit_calls",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("credential", String(64), nullable=False),
    # Latest moment the call can have reached the vendor (epoch seconds): the grant time
    # plus the longest a request may take while it is in flight, its end once answered.
    Column("at", Float, nullable=False),
    Column("weight", Integer, nullable=False, default=1),
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
    Column("connector", String(100), primary_key=True),
    Column("direction", String(10), primary_key=True),  # push | pull
    Column("state", String(20), nullable=False),  # idle running failed guarded paused
    _ts("last_started_at"),
    _ts("last_finished_at"),
    _ts("last_success_at"),
    _ts("next_run_at"),
    Column("pending_ops", Integer, nullable=False, default=0),
    Column("failed_ops", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("approved", Boolean, nullable=False, default=False),  # `syncd approve`, used once
    Column("last_run_id", Id),
)

sync_runs = Table(
    "sync_runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("connector", String(100), nullable=False),
    Column("direction", String(10), nullable=False),
    _ts("started_at", nullable=False),
    _ts("finished_at"),
    Column("outcome", String(20)),  # success partial failed guarded dry_run aborted
    Column("records_seen", Integer, nullable=False, default=0),
    Column("created", Integer, nullable=False, default=0),
    Column("updated", Integer, nullable=False, default=0),
    Column("deactivated", Integer, nullable=False, default=0),
    Column("reactivated", Integer, nullable=False, default=0),
    Column("deleted", Integer, nullable=False, default=0),
    Column("memberships", Integer, nullable=False, default=0),
    Column("delivered", Integer, nullable=False, default=0),
    Column("failed", Integer, nullable=False, default=0),
    Column("api_calls", Integer, nullable=False, default=0),
    Column("detail", Text),
    Index(None, "connector", "direction", "started_at"),
)

sync_errors = Table(
    "sync_errors",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("connector", String(100), nullable=False),
    Column("direction", String(10), nullable=False, default="push"),
    Column("hr_key", String(255), nullable=False),  # "" when the record had no key
    Column("operation", String(40), nullable=False),  # validate, map, source, create, ...
    Column("reason", Text, nullable=False),
    _ts("first_seen_at", nullable=False),
    _ts("last_seen_at", nullable=False),
    Column("attempts", Integer, nullable=False, default=1),
    Column("resolved_at", DateTime(timezone=True)),
    Column("operation_id", Id),  # outbox row, when the failure is an operation
    UniqueConstraint("connector", "direction", "hr_key", "operation"),
)
