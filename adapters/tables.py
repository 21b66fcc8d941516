"""Enforcement points for tables: a pandas DataFrame in memory, or a SQL table behind SQLAlchemy.

Both ask the decision API for the columns they are about to hand over, then apply the answer
with ``governance.pii.apply`` (same operators, same key ring as the service):

* ``governed_frame``: a DataFrame already loaded;
* ``governed_select``: a SQL table. The query is built from the decision: it selects only the
  columns the subject may see (plus those the row filter needs) and **pushes the row filter
  down** as a ``WHERE`` clause, so rows the subject may not see never leave the database. The
  filter is applied again in Python on what comes back: SQL and Python agree on NULLs (a
  comparison with NULL is not true), and if a database ever disagreed, the stricter answer wins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from adapters.client import Decider
from governance.errors import AccessDenied, InvalidInput
from governance.pdp.decision import (
    COMPARISONS,
    SUBJECT_OPS,
    Decision,
    ObligationAction,
    RowCondition,
    RowFilterOp,
)
from governance.pii.apply import apply_to_frame, apply_to_rows
from governance.pii.operators import Protector

if TYPE_CHECKING:
    import pandas as pd


def governed_frame(
    client: Decider,
    protector: Protector,
    frame: pd.DataFrame,
    *,
    subject: str,
    dataset: str,
    purpose: str,
    context: Mapping[str, Any] | None = None,
    subject_attributes: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """``frame`` as the decision lets ``subject`` see it for ``purpose``; raises ``AccessDenied``."""
    decision = client.decide(
        subject,
        dataset,
        purpose,
        columns=[str(c) for c in frame.columns],
        context=context,
        subject_attributes=subject_attributes,
    )
    return apply_to_frame(frame, decision, protector, purpose=purpose, dataset=dataset)


@dataclass
class GovernedResult:
    rows: list[dict[str, Any]]
    decision: Decision
    sql: str  # the statement sent, with bound parameters as placeholders
    fetched: int  # rows the database returned (after the pushed-down filter)
    columns: list[str] = field(default_factory=list)


def _condition(column: sa.ColumnElement[Any], c: RowCondition) -> sa.ColumnElement[bool]:
    op, value = c.op, c.value
    if op is RowFilterOp.is_null:
        return column.is_(None)
    if op is RowFilterOp.not_null:
        return column.is_not(None)
    if op is RowFilterOp.in_:
        return column.in_(list(value or []))
    if op is RowFilterOp.not_in:
        # NOT IN with a NULL column is not true in SQL: the same as the Python side
        return column.not_in(list(value or []))
    condition: sa.ColumnElement[bool] = COMPARISONS[op](column, value)
    return condition


def governed_select(
    client: Decider,
    protector: Protector,
    engine: sa.Engine,
    table: str,
    *,
    subject: str,
    dataset: str,
    purpose: str,
    context: Mapping[str, Any] | None = None,
    subject_attributes: Mapping[str, Any] | None = None,
    limit: int | None = None,
    order_by: Sequence[str] = (),
) -> GovernedResult:
    """The rows of ``table`` that ``subject`` may see, transformed as the decision says."""
    schema, _, name = table.rpartition(".")
    reflected = sa.Table(name, sa.MetaData(), schema=schema or None, autoload_with=engine)
    all_columns = [c.name for c in reflected.columns]
    decision = client.decide(
        subject,
        dataset,
        purpose,
        columns=all_columns,
        context=context,
        subject_attributes=subject_attributes,
    )
    if not decision.allowed:
        raise AccessDenied(f"the decision denies access: {decision.reason}")
    visible = {
        o.column for o in decision.obligations if o.action is not ObligationAction.drop
    } & set(all_columns)
    conditions = list(decision.row_filter or [])
    for c in conditions:
        if c.column not in reflected.columns:
            raise InvalidInput(
                f"the row filter names column {c.column!r}, which {table} does not have; "
                "no rows are returned"
            )
    needed = visible | {c.column for c in conditions}
    selected = [reflected.c[n] for n in all_columns if n in needed]
    if not selected:
        return GovernedResult([], decision, "", 0)
    query = sa.select(*selected)
    for c in conditions:
        if c.op in SUBJECT_OPS:
            continue  # keyed consent lists are judged in Python below (the database has no key)
        query = query.where(_condition(reflected.c[c.column], c))
    for column in order_by:
        query = query.order_by(reflected.c[column])
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as conn:
        fetched = [dict(r._mapping) for r in conn.execute(query)]
    rows = apply_to_rows(fetched, decision, protector, purpose=purpose, dataset=dataset)
    return GovernedResult(
        rows=rows,
        decision=decision,
        sql=str(query.compile(engine)),
        fetched=len(fetched),
        columns=list(rows[0]) if rows else [n for n in all_columns if n in visible],
    )
