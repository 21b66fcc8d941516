"""consent records, privacy requests and erasure receipts

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(length: int) -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        "consent_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_group", _text(36), nullable=False),
        sa.Column("subject_ref", _text(64), nullable=False),
        sa.Column("identifier_kind", _text(32), nullable=False),
        sa.Column("purpose", _text(100), nullable=False),
        sa.Column("status", _text(16), nullable=False),
        sa.Column("source", _text(16), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", _text(200), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("consent_event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_consent_event_subject_purpose", ["subject_ref", "purpose", "id"], unique=False
        )
        batch_op.create_index("ix_consent_event_purpose", ["purpose", "id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_consent_event_record_group"), ["record_group"], unique=False
        )
    op.create_table(
        "privacy_request",
        sa.Column("id", _text(36), nullable=False),
        sa.Column("kind", _text(16), nullable=False),
        sa.Column("status", _text(16), nullable=False),
        sa.Column("jurisdiction", _text(8), nullable=False),
        sa.Column("subject_ref", _text(64), nullable=False),
        sa.Column("identifier_kinds", _text(100), nullable=False),
        sa.Column("identifiers_sealed", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opened_by", _text(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("result_sealed", sa.Text(), nullable=True),
        sa.Column("plan_digest", _text(64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("privacy_request", schema=None) as batch_op:
        batch_op.create_index("ix_privacy_request_status_due", ["status", "due_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_privacy_request_subject_ref"), ["subject_ref"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_privacy_request_received_at"), ["received_at"], unique=False
        )
    op.create_table(
        "erasure_receipt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", _text(36), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("dataset", _text(500), nullable=False),
        sa.Column("action", _text(32), nullable=False),
        sa.Column("status", _text(16), nullable=False),
        sa.Column("rows_found", sa.Integer(), nullable=True),
        sa.Column("rows_erased", sa.Integer(), nullable=True),
        sa.Column("rows_remaining", sa.Integer(), nullable=True),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("erasure_receipt", schema=None) as batch_op:
        batch_op.create_index("ux_erasure_receipt_step", ["request_id", "step"], unique=True)


def downgrade() -> None:
    op.drop_table("erasure_receipt")
    op.drop_table("privacy_request")
    op.drop_table("consent_event")
