"""SQLModel tables of the SQL store. Every change here is an Alembic revision in ``migrations/``.

A test runs Alembic's autogenerate against a migrated database and expects no difference, so
the models and the migrations cannot drift.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Index, Text, false
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(*, index: bool = False, nullable: bool = False) -> Column[datetime]:
    return Column(DateTime(timezone=True), index=index, nullable=nullable)


class ApiKey(SQLModel, table=True):
    """A caller of the API. Only a hash of the secret is stored; the key is shown once."""

    __tablename__ = "api_key"

    id: str = Field(primary_key=True, max_length=32, description="Public key id (in the key).")
    name: str = Field(unique=True, max_length=200)
    role: str = Field(max_length=32)
    secret_hash: str = Field(max_length=64, description="SHA-256 of the secret part, hex.")
    created_at: datetime = Field(sa_column=_ts())
    revoked_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class DecisionRecord(SQLModel, table=True):
    """One entry of the append-only, hash-chained audit log.

    ``seq`` is dense (1, 2, 3 …); ``hash`` is an HMAC over ``prev_hash`` and every other
    column, so an edit, a deletion or a reordering breaks the chain at that record.
    """

    __tablename__ = "decision_log"
    __table_args__ = (
        Index("ix_decision_log_subject_time", "subject", "recorded_at"),
        Index("ix_decision_log_dataset_time", "dataset", "recorded_at"),
    )

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    decision_id: str = Field(unique=True, max_length=36)
    kind: str = Field(default="decision", max_length=32, index=True)
    recorded_at: datetime = Field(sa_column=_ts(index=True))
    caller: str = Field(default="", max_length=200)
    subject: str = Field(max_length=300)
    action: str = Field(max_length=100)
    dataset: str = Field(max_length=500)
    purpose: str = Field(max_length=100, index=True)
    decision: str = Field(max_length=8, index=True)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    policy_version: str = Field(max_length=64)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    """The tip of the audit chain (one row). Appends lock it; verification checks the tail."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    seq: int = Field(default=0)
    hash: str = Field(default="", max_length=64)


class PolicyVersionRecord(SQLModel, table=True):
    """Every policy version the service has served: the hash recorded on each decision."""

    __tablename__ = "policy_version"

    version: str = Field(primary_key=True, max_length=64)
    first_loaded_at: datetime = Field(sa_column=_ts())
    files: str = Field(sa_column=Column(Text, nullable=False), description="JSON: file → sha256")


class OutboxEvent(SQLModel, table=True):
    """An accepted OpenLineage event waiting to be written to the lineage graph.

    Ingest commits here before it answers; the drain moves events to the graph store and marks
    them processed, so an event is never lost while the graph is down.
    """

    __tablename__ = "lineage_outbox"
    # pending: the drain's next batch, and the status count, read only the index (never the
    # payloads); dead and attempts: the status's dead-letter count and last stored error
    # without a table scan
    __table_args__ = (
        Index("ix_lineage_outbox_pending", "processed_at", "dead", "id"),
        Index("ix_lineage_outbox_dead", "dead"),
        Index("ix_lineage_outbox_attempts", "attempts"),
    )

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = Field(sa_column=_ts())
    source: str = Field(default="api", max_length=32, description="api | decision | batch")
    payload: str = Field(sa_column=Column(Text, nullable=False))
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    processed_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    dead: bool = Field(
        default=False,
        sa_column_kwargs={"server_default": false()},
        description="Gave up after too many attempts; kept for replay.",
    )


class ColumnClassification(SQLModel, table=True):
    """What PII type a column holds: suggested by a scan, confirmed or rejected by a steward.

    One row per (dataset, column, PII type). A steward's confirmation or rejection sticks: a later
    scan refreshes the evidence of the row but never its status. Only confirmed rows reach the
    policy decision point (they override ``catalog.yaml``); suggestions wait for review.
    """

    __tablename__ = "pii_classification"
    __table_args__ = (
        Index("ux_pii_classification", "dataset", "column_name", "pii_type", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    dataset: str = Field(max_length=500, index=True)
    column_name: str = Field(max_length=300)
    pii_type: str = Field(max_length=100)
    source: str = Field(max_length=32, description="scan | steward | lineage")
    status: str = Field(max_length=16, description="suggested | confirmed | rejected")
    confidence: float = Field(default=0.0)
    evidence: str = Field(sa_column=Column(Text, nullable=False), description="JSON")
    created_at: datetime = Field(sa_column=_ts())
    updated_at: datetime = Field(sa_column=_ts(index=True))
    reviewed_by: str | None = Field(default=None, max_length=200)
    reviewed_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
