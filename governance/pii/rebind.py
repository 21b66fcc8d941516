"""Migrating encryption tokens made before they were bound to their dataset and column.

Tokens made before binding (``enc_<key id>_…``) reverse under a permission for any dataset:
that is the hole binding closes. ``rebind`` reads a table's column, opens every legacy token
with the key ring, and writes it back as a bound token (``encb_…``) for the dataset and
column it lives in, a batch per transaction. Each update names the old token too, so a row
changed meanwhile is left alone (and counted). Run it with ``--dry-run`` first (the default on
the CLI); until every table is migrated, ``GOVERNANCE_PII__LEGACY_TOKENS=true`` keeps old
tokens reversible.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from governance.pii.operators import LEGACY_ENCRYPTED_PREFIX, Protector, TokenError


@dataclass(frozen=True)
class RebindResult:
    legacy: int
    rebound: int
    unreadable: int
    changed_meanwhile: int


def rebind(
    engine: sa.Engine,
    table: str,
    column: str,
    key: str,
    *,
    dataset: str,
    protector: Protector,
    apply: bool,
    batch: int = 1000,
) -> RebindResult:
    """Rewrite the legacy tokens of ``table.column`` (rows identified by ``key``)."""
    reflected = sa.Table(table, sa.MetaData(), autoload_with=engine)
    value, ident = reflected.c[column], reflected.c[key]
    like = LEGACY_ENCRYPTED_PREFIX.replace("_", "\\_") + "%"
    legacy = rebound = unreadable = changed = 0
    last = None
    while True:
        query = sa.select(ident, value).where(value.like(like, escape="\\")).order_by(ident)
        if last is not None:
            query = query.where(ident > last)
        with engine.begin() as conn:
            rows = conn.execute(query.limit(batch)).all()
            if not rows:
                break
            last = rows[-1][0]
            for row_key, token in rows:
                legacy += 1
                try:
                    plain = protector.decrypt(token, dataset=dataset, column=column, legacy=True)
                except TokenError:
                    unreadable += 1
                    continue
                bound = protector.encrypt(plain, dataset=dataset, column=column)
                if not apply:
                    continue
                result = conn.execute(
                    sa.update(reflected)
                    .where(ident == row_key, value == token)
                    .values({column: bound})
                )
                if result.rowcount == 1:
                    rebound += 1
                else:
                    changed += 1
    return RebindResult(legacy, rebound, unreadable, changed)
