"""decision facts: the audit trail's payloads, extracted once for reports

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(length: int) -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    # empty at first: the service's indexer fills it from the audit trail in the background
    op.create_table(
        "decision_fact",
        sa.Column("chain", _text(64), nullable=False),
        sa.Column("chain_seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", _text(32), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("subject", _text(300), nullable=False),
        sa.Column("dataset", _text(500), nullable=False),
        sa.Column("purpose", _text(100), nullable=False),
        sa.Column("decision", _text(8), nullable=False),
        sa.Column("policy_version", _text(64), nullable=False),
        sa.Column("shape", _text(32), nullable=False),
        sa.Column("consented", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("chain", "chain_seq"),
    )
    op.create_index("ix_decision_fact_time", "decision_fact", ["recorded_at"], unique=False)
    op.create_table(
        "decision_shape",
        sa.Column("digest", _text(32), nullable=False),
        sa.Column("obligations", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("digest"),
    )


def downgrade() -> None:
    op.drop_table("decision_shape")
    op.drop_index("ix_decision_fact_time", table_name="decision_fact")
    op.drop_table("decision_fact")
