"""SQLModel tables of the SQL store. Every change here is an Alembic revision in ``migrations/``.

A test runs Alembic's autogenerate against a migrated database and expects no difference, so
the models and the migrations cannot drift.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, DateTime, Index, Sequence, Text, false
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
    acts_for: str = Field(
        default="[]",
        sa_column=Column(Text, nullable=False, server_default="[]"),
        description="JSON list of the principals the key may ask about (patterns with *).",
    )
    created_at: datetime = Field(sa_column=_ts())
    revoked_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


DECISION_SEQ = Sequence("decision_log_seq_gen", start=1)
"""PostgreSQL allocates ``seq`` from this sequence, so writers on different chains never wait
for each other; SQLite takes max + 1 under its single write lock."""


class DecisionRecord(SQLModel, table=True):
    """One entry of the append-only, hash-chained audit log.

    Every writer appends to its own chain (``chain``); ``chain_seq`` is dense within a chain
    (1, 2, 3 …) and ``prev_hash`` links each record to the one before it in its chain. ``seq``
    orders the merged trail of every chain (unique and increasing, with gaps on PostgreSQL).

    ``hash_format`` 2 (every new record): ``hash`` = SHA-256 over ``prev_hash`` and the canonical
    form of every other column, so anyone can recompute it from a copy; ``mac`` = HMAC of
    ``hash`` under the audit key, so only the service can have made it. ``format`` 1 (records
    from before the migration): ``hash`` is the HMAC itself and ``mac`` is empty.
    """

    __tablename__ = "decision_log"
    __table_args__ = (
        Index("ix_decision_log_subject_time", "subject", "recorded_at"),
        Index("ix_decision_log_dataset_time", "dataset", "recorded_at"),
        Index("ux_decision_log_chain_seq", "chain", "chain_seq", unique=True),
    )

    seq: int = Field(
        sa_column=Column(
            BigInteger, DECISION_SEQ, primary_key=True, autoincrement=False, nullable=False
        )
    )
    chain: str = Field(default="main", max_length=64)
    chain_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    hash_format: int = Field(default=2)
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
    mac: str = Field(default="", max_length=64)


class AuditChain(SQLModel, table=True):
    """The head of one writer's chain. Appends lock their chain's row; a process leases a chain
    (``owner``, ``lease_until``) so that writers do not contend, and gives it back on exit."""

    __tablename__ = "audit_chain"

    chain: str = Field(primary_key=True, max_length=64)
    head_seq: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    head_hash: str = Field(default="", max_length=64)
    owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    created_at: datetime = Field(sa_column=_ts())


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


class ConsentEvent(SQLModel, table=True):
    """One consent or opt-out record. History is kept whole: a new record never overwrites an
    old one; a subject's state for a purpose is their latest record for it.

    ``subject_ref`` is a keyed hash of one identifier (never the identifier itself); a record
    given with several identifiers is stored once per identifier, sharing ``record_group``.
    ``purpose`` is a purpose of ``purposes.yaml`` or a CCPA right: ``sale``, ``share``,
    ``sensitive_limit``.
    """

    __tablename__ = "consent_event"
    __table_args__ = (
        Index("ix_consent_event_subject_purpose", "subject_ref", "purpose", "id"),
        Index("ix_consent_event_purpose", "purpose", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    record_group: str = Field(max_length=36, index=True)
    subject_ref: str = Field(max_length=64)
    identifier_kind: str = Field(max_length=32)
    purpose: str = Field(max_length=100)
    status: str = Field(max_length=16, description="granted | withdrawn")
    source: str = Field(max_length=16, description="api | import | gpc | dsr")
    recorded_at: datetime = Field(sa_column=_ts())
    recorded_by: str = Field(default="", max_length=200)
    evidence: str = Field(default="{}", sa_column=Column(Text, nullable=False))


class PrivacyRequest(SQLModel, table=True):
    """A data subject request (access, erasure, rectification, opt-out, restriction).

    The identifiers are kept sealed (AES-SIV, bound to this table) because the service needs
    them to search the sources; ``subject_ref`` indexes them. Every status change is also a
    record in the audit chain.
    """

    __tablename__ = "privacy_request"
    __table_args__ = (Index("ix_privacy_request_status_due", "status", "due_at"),)

    id: str = Field(primary_key=True, max_length=36)
    kind: str = Field(max_length=16)
    status: str = Field(max_length=16)
    jurisdiction: str = Field(max_length=8)
    subject_ref: str = Field(max_length=64, index=True)
    identifier_kinds: str = Field(max_length=100)
    identifiers_sealed: str = Field(sa_column=Column(Text, nullable=False))
    received_at: datetime = Field(sa_column=_ts(index=True))
    due_at: datetime = Field(sa_column=_ts())
    updated_at: datetime = Field(sa_column=_ts())
    completed_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    opened_by: str = Field(default="", max_length=200)
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    result_sealed: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    plan_digest: str | None = Field(default=None, max_length=64)


class ErasureReceipt(SQLModel, table=True):
    """What one step of an erasure plan did to one dataset, written before and after it ran,
    so that a run killed halfway is resumed, and the receipts still add up."""

    __tablename__ = "erasure_receipt"
    __table_args__ = (Index("ux_erasure_receipt_step", "request_id", "step", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: str = Field(max_length=36)
    step: int
    dataset: str = Field(max_length=500)
    action: str = Field(max_length=32, description="delete | pseudonymize | model")
    status: str = Field(max_length=16, description="started | done | failed | exempt")
    rows_found: int | None = None
    rows_erased: int | None = None
    rows_remaining: int | None = None
    fields: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    started_at: datetime = Field(sa_column=_ts())
    finished_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    detail: str = Field(default="", sa_column=Column(Text, nullable=False))


class DecisionFact(SQLModel, table=True):
    """A narrow projection of one audit record, for reports: what its payload says, extracted
    once (the obligations' shape, whether consent evidence was cited), so that grouping a
    million decisions reads a few columns instead of parsing a million JSON payloads.

    Derived and rebuildable (``governance.reports.facts``): filled off the decision path by a
    background indexer, idempotently by (chain, chain_seq). The audit chain stays the evidence;
    a report records the chain head it was built at."""

    __tablename__ = "decision_fact"
    __table_args__ = (Index("ix_decision_fact_time", "recorded_at"),)

    chain: str = Field(primary_key=True, max_length=64)
    chain_seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    kind: str = Field(max_length=32)
    recorded_at: datetime = Field(sa_column=_ts())
    subject: str = Field(max_length=300)
    dataset: str = Field(max_length=500)
    purpose: str = Field(max_length=100)
    decision: str = Field(max_length=8)
    policy_version: str = Field(max_length=64)
    shape: str = Field(max_length=32, description="Digest of the obligations (decision_shape).")
    consented: int = Field(default=0, description="1 when consent evidence was cited.")


class DecisionShape(SQLModel, table=True):
    """The obligations a decision carried, once per distinct list (a policy makes a few)."""

    __tablename__ = "decision_shape"

    digest: str = Field(primary_key=True, max_length=32)
    obligations: str = Field(sa_column=Column(Text, nullable=False))
