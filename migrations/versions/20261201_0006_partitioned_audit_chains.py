"""partitioned audit chains with publicly checkable hashes

One chain per writer (``chain``, dense ``chain_seq``) instead of one chain serialized through a
single head row, and format-2 records whose hash anyone can recompute (SHA-256) beside a MAC
only the service can make. Existing records become chain ``main`` unchanged: they keep
``hash_format`` 1 (their hash is the HMAC) and their ``seq`` as ``chain_seq``, so they verify as
before. The head row moves to ``audit_chain``. On PostgreSQL, ``seq`` now comes from a sequence
(writers on different chains never wait for each other).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 09:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEQ = "decision_log_seq_gen"


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    op.create_table(
        "audit_chain",
        sa.Column("chain", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("head_seq", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chain"),
    )
    head = bind.execute(sa.text("SELECT seq, hash FROM audit_head WHERE id = 1")).first()
    if head is not None and int(head[0]) > 0:
        bind.execute(
            sa.text(
                "INSERT INTO audit_chain (chain, head_seq, head_hash, created_at) "
                "VALUES ('main', :seq, :hash, :now)"
            ),
            {"seq": int(head[0]), "hash": head[1], "now": datetime.now(UTC)},
        )
    op.drop_table("audit_head")

    with op.batch_alter_table("decision_log", schema=None) as batch_op:
        batch_op.alter_column(
            "seq", existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False
        )
        batch_op.add_column(
            sa.Column(
                "chain",
                sqlmodel.sql.sqltypes.AutoString(length=64),
                nullable=False,
                server_default="main",
            )
        )
        batch_op.add_column(sa.Column("chain_seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("hash_format", sa.Integer(), nullable=False, server_default="1")
        )
        batch_op.add_column(
            sa.Column(
                "mac", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False, server_default=""
            )
        )
    op.execute("UPDATE decision_log SET chain_seq = seq")
    with op.batch_alter_table("decision_log", schema=None) as batch_op:
        batch_op.alter_column("chain_seq", existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column("chain", server_default=None)
        batch_op.alter_column("hash_format", server_default=None)
        batch_op.alter_column("mac", server_default=None)
        batch_op.create_index("ux_decision_log_chain_seq", ["chain", "chain_seq"], unique=True)
    if postgres:
        op.execute(f"CREATE SEQUENCE {SEQ} START WITH 1 OWNED BY decision_log.seq")
        op.execute(
            f"SELECT setval('{SEQ}', (SELECT coalesce(max(seq), 0) + 1 FROM decision_log), false)"
        )


def downgrade() -> None:
    bind = op.get_bind()
    chains = bind.execute(sa.text("SELECT count(*) FROM audit_chain")).scalar_one()
    if chains > 1:
        raise RuntimeError("cannot go back to one chain: several chains hold records")
    newer = bind.execute(
        sa.text("SELECT count(*) FROM decision_log WHERE hash_format <> 1")
    ).scalar_one()
    if newer:
        raise RuntimeError("cannot go back: format-2 records would no longer verify")
    if bind.dialect.name == "postgresql":
        op.execute(f"DROP SEQUENCE IF EXISTS {SEQ}")
    with op.batch_alter_table("decision_log", schema=None) as batch_op:
        batch_op.drop_index("ux_decision_log_chain_seq")
        batch_op.drop_column("mac")
        batch_op.drop_column("hash_format")
        batch_op.drop_column("chain_seq")
        batch_op.drop_column("chain")
        batch_op.alter_column(
            "seq", existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=False
        )
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute(
        "INSERT INTO audit_head (id, seq, hash) SELECT 1, head_seq, head_hash FROM audit_chain "
        "WHERE chain = 'main'"
    )
    op.drop_table("audit_chain")
