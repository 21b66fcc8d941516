"""outbox status without table scans

The status counts (pending, dead) and its last-error lookup scanned the outbox's payloads:
40 ms at 10,000 pending events, growing with the outbox, paid on every GET /v1/lineage/status
(and contending with the drain for SQLite and the GIL while it ran).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 22:25:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("lineage_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_lineage_outbox_pending")
        batch_op.create_index(
            "ix_lineage_outbox_pending", ["processed_at", "dead", "id"], unique=False
        )
        batch_op.create_index("ix_lineage_outbox_dead", ["dead"], unique=False)
        batch_op.create_index("ix_lineage_outbox_attempts", ["attempts"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("lineage_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_lineage_outbox_attempts")
        batch_op.drop_index("ix_lineage_outbox_dead")
        batch_op.drop_index("ix_lineage_outbox_pending")
        batch_op.create_index("ix_lineage_outbox_pending", ["processed_at", "id"], unique=False)
