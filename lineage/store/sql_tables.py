"""Tables of the embedded lineage store (same SQL database as the service; Alembic-managed)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Index, Text
from sqlmodel import Field, SQLModel


def _ts(*, nullable: bool = False) -> Column[datetime]:
    return Column(DateTime(timezone=True), nullable=nullable)


class LineageNamespaceRow(SQLModel, table=True):
    __tablename__ = "lineage_namespace"

    name: str = Field(primary_key=True)
    created_at: datetime = Field(sa_column=_ts())
    updated_at: datetime = Field(sa_column=_ts())


class LineageNodeRow(SQLModel, table=True):
    """A dataset or a job (``kind``), keyed by its gid."""

    __tablename__ = "lineage_node"
    __table_args__ = (Index("ix_lineage_node_kind_namespace_name", "kind", "namespace", "name"),)

    gid: str = Field(primary_key=True)
    kind: str = Field(max_length=8)
    namespace: str
    name: str
    created_at: datetime = Field(sa_column=_ts())
    updated_at: datetime = Field(sa_column=_ts())
    attr_time: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    source_name: str | None = None
    description: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    node_type: str | None = None
    content: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    schema_time: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    schema_fields: str = Field(
        default="[]",
        sa_column=Column(Text, nullable=False, server_default="[]"),
        description="Latest schema: JSON [[name, type, description], ...].",
    )


class LineageEdgeRow(SQLModel, table=True):
    """dataset → job (consumed by) and job → dataset (produces): downstream is src → dst."""

    __tablename__ = "lineage_edge"
    __table_args__ = (Index("ix_lineage_edge_dst", "dst"),)

    src: str = Field(primary_key=True)
    dst: str = Field(primary_key=True)
    first_seen: datetime = Field(sa_column=_ts())
    last_seen: datetime = Field(sa_column=_ts())


class LineageFieldRow(SQLModel, table=True):
    """A field's identity; type and description come from the dataset's latest schema."""

    __tablename__ = "lineage_field"

    key: str = Field(primary_key=True)
    dataset_gid: str = Field(index=True)
    name: str


class LineageFieldEdgeRow(SQLModel, table=True):
    """``output`` derives from ``input`` (column lineage)."""

    __tablename__ = "lineage_field_edge"
    __table_args__ = (Index("ix_lineage_field_edge_input", "input"),)

    output: str = Field(primary_key=True)
    input: str = Field(primary_key=True)
    type: str = Field(primary_key=True, default="")
    subtype: str = Field(primary_key=True, default="")
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    masking: bool = False
    first_seen: datetime = Field(sa_column=_ts())
    last_seen: datetime = Field(sa_column=_ts())


class LineageFieldProducerRow(SQLModel, table=True):
    __tablename__ = "lineage_field_producer"

    field_key: str = Field(primary_key=True)
    job_gid: str = Field(primary_key=True)
    first_seen: datetime = Field(sa_column=_ts())
    last_seen: datetime = Field(sa_column=_ts())


class LineageRunRow(SQLModel, table=True):
    __tablename__ = "lineage_run"
    __table_args__ = (Index("ix_lineage_run_job_created", "job_gid", "created_at"),)

    run_id: str = Field(primary_key=True, max_length=64)
    job_gid: str
    state: str = Field(max_length=16)
    state_rank: int
    state_time: datetime = Field(sa_column=_ts())
    started_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    ended_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    created_at: datetime = Field(sa_column=_ts())
    updated_at: datetime = Field(sa_column=_ts())
    parent_run_id: str | None = Field(default=None, max_length=64)
    attr_time: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    content: str = Field(default="{}", sa_column=Column(Text, nullable=False))


class LineageRunIoRow(SQLModel, table=True):
    __tablename__ = "lineage_run_io"

    run_id: str = Field(primary_key=True, max_length=64)
    dataset_gid: str = Field(primary_key=True)
    direction: str = Field(primary_key=True, max_length=3)
    at: datetime = Field(sa_column=_ts())


class LineageClassificationRow(SQLModel, table=True):
    __tablename__ = "lineage_classification"

    field_key: str = Field(primary_key=True)
    pii_type: str = Field(primary_key=True, max_length=64)
    source: str = Field(primary_key=True, max_length=16)
    confidence: float
    at: datetime = Field(sa_column=_ts())
