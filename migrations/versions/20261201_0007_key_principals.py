"""API keys bound to the principals they may act for

A service key used to be able to ask about any subject, and so to reverse tokens under the
permissions of a person it is not. Keys now carry ``acts_for`` (patterns such as
``service:churn-pipeline`` or ``user:*``). Existing keys get the empty list: they may act for
nobody until an administrator binds them (``governance keys bind``), which fails closed.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.add_column(sa.Column("acts_for", sa.Text(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.drop_column("acts_for")
