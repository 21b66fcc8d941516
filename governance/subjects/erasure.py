"""The right to erasure (GDPR Art. 17, CCPA right to delete): a plan shown first, then
executed source by source, with a receipt for every step.

**The plan** lists every place the subject's data lives, in dependency order, downstream first
(models, then derived datasets, then sources), so that nothing is re-derived from a source not
yet erased. A step deletes the subject's rows; for a dataset under a legal hold
(``catalog.yaml: legal_hold``, a purpose with lawful basis ``legal_obligation``) it instead
pseudonymizes them irreversibly (identifier columns get a random value, PII columns are
cleared, the rest is kept for the legal purpose); for a model it records that the model must be
retrained or an exemption documented. The plan has a digest; execution needs it, so nothing is
erased that was not shown.

**Execution** runs each SQL step in one transaction on its source, re-queries to check that
nothing is left, and writes a receipt: rows found and erased, fields, time, and the check's
result. A receipt is written as ``started`` (with the rows found) before the step and ``done``
after it, so a run killed halfway is resumed by running the plan again: a step whose rows are
gone is completed from its started receipt (the receipts still add up), a step already done is
not run again (a second run is a no-op), and a step still holding rows runs again.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlmodel import col, select

from governance.db import Database
from governance.errors import Conflict, InvalidInput, Unavailable
from governance.models import ErasureReceipt
from governance.pdp.catalog import Catalog
from governance.subjects.identifiers import Identifier
from governance.subjects.search import LineageView, SearchResult, SubjectSearch
from governance.timestamps import iso

Action = Literal["delete", "pseudonymize", "model"]


class ErasureStep(BaseModel):
    step: int
    dataset: str
    action: Action
    rows: int = Field(description="Rows holding the subject when the plan was made.")
    fields: list[str] = Field(description="Columns cleared (pseudonymize) or the whole row.")
    why: str
    after: list[int] = Field(
        default_factory=list, description="Steps (of datasets derived from this one) first."
    )


class ErasurePlan(BaseModel):
    request_id: str
    generated_at: str
    steps: list[ErasureStep]
    digest: str = Field(description="SHA-256 of the steps; execution must name it.")


class Receipt(BaseModel):
    step: int
    dataset: str
    action: str
    status: str = Field(description="done | failed | exempt (a model) | started (interrupted)")
    rows_found: int | None
    rows_erased: int | None
    rows_remaining: int | None
    fields: list[str]
    started_at: str
    finished_at: str | None
    check: str = Field(description="What the re-query after the step found.")
    detail: str


def digest_of(steps: Sequence[ErasureStep]) -> str:
    body = json.dumps([s.model_dump(mode="json") for s in steps], sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


def _downstream_first(
    datasets: Sequence[str], edges: Sequence[tuple[str, str]]
) -> tuple[list[str], dict[str, set[str]]]:
    """Order so that every dataset comes after the ones derived from it (ties by name)."""
    present = set(datasets)
    children: dict[str, set[str]] = {d: set() for d in datasets}
    for up, down in edges:
        if up in present and down in present and up != down:
            children[up].add(down)
    order: list[str] = []
    placed: set[str] = set()
    remaining = sorted(present)
    while remaining:
        ready = [d for d in remaining if children[d] <= placed]
        if not ready:  # a cycle in observed lineage: break it by name, deterministically
            ready = [remaining[0]]
        for d in ready:
            order.append(d)
            placed.add(d)
        remaining = [d for d in remaining if d not in placed]
    return order, children


def make_plan(
    request_id: str,
    result: SearchResult,
    catalog: Catalog,
    lineage: LineageView | None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ErasurePlan:
    involved = [*result.models, *result.datasets]
    edges = lineage.edges([*involved, *result.unreachable]) if lineage is not None else []
    # a model fed by a dataset is downstream of it even when the edge is not among the
    # datasets above (the search recorded where each model's data came from)
    edges = [*edges, *((o, m) for m, origins in result.models.items() for o in origins)]
    order, children = _downstream_first(involved, edges)
    rows = {h.dataset: len(h.rows) for h in result.hits}
    steps: list[ErasureStep] = []
    number: dict[str, int] = {}
    for dataset in order:
        number[dataset] = len(steps) + 1
        after = sorted(number[c] for c in children[dataset] if c in number)
        if dataset in result.models:
            steps.append(
                ErasureStep(
                    step=number[dataset],
                    dataset=dataset,
                    action="model",
                    rows=0,
                    fields=[],
                    why="a model trained on data holding the subject: retrain it without them, "
                    "or document an exemption",
                    after=after,
                )
            )
            continue
        info = catalog.get(dataset)
        hold = info.legal_hold if info else None
        if hold:
            pii = [c for c, t in (info.columns.items() if info else []) if t not in ("NONE",)]
            identifiers = (
                [c.column for c in info.source.identifiers.values()] if info and info.source else []
            )
            steps.append(
                ErasureStep(
                    step=number[dataset],
                    dataset=dataset,
                    action="pseudonymize",
                    rows=rows.get(dataset, 0),
                    fields=sorted(set(pii) | set(identifiers)),
                    why=f"kept for {hold} (legal hold): pseudonymized irreversibly",
                    after=after,
                )
            )
        else:
            steps.append(
                ErasureStep(
                    step=number[dataset],
                    dataset=dataset,
                    action="delete",
                    rows=rows.get(dataset, 0),
                    fields=[],
                    why="holds the subject's rows"
                    + (" (derived data)" if dataset in result.derived else ""),
                    after=after,
                )
            )
    return ErasurePlan(
        request_id=request_id,
        generated_at=iso(now()),
        steps=steps,
        digest=digest_of(steps),
    )


@dataclass(frozen=True)
class StepPermission:
    allowed: bool
    reason: str


Authorize = Callable[[ErasureStep], StepPermission]
"""Asks the PDP whether the principal may erase from a step's dataset (itself recorded)."""


def _receipt(row: ErasureReceipt) -> Receipt:
    remaining = row.rows_remaining
    if row.status == "exempt":
        check = "not applicable (a model)"
    elif remaining is None:
        check = "not checked"
    else:
        check = "nothing left" if remaining == 0 else f"{remaining} row(s) still match"
    return Receipt(
        step=row.step,
        dataset=row.dataset,
        action=row.action,
        status=row.status,
        rows_found=row.rows_found,
        rows_erased=row.rows_erased,
        rows_remaining=row.rows_remaining,
        fields=json.loads(row.fields or "[]"),
        started_at=iso(row.started_at),
        finished_at=iso(row.finished_at),
        check=check,
        detail=row.detail,
    )


class Eraser:
    """Executes plans against the sources and keeps the receipts."""

    def __init__(self, db: Database, search: SubjectSearch, catalog: Callable[[], Catalog]) -> None:
        self._db = db
        self._search = search
        self._catalog = catalog

    def receipts(self, request_id: str) -> list[Receipt]:
        with self._db.session() as session:
            rows = session.exec(
                select(ErasureReceipt)
                .where(ErasureReceipt.request_id == request_id)
                .order_by(col(ErasureReceipt.step))
            ).all()
        return [_receipt(r) for r in rows]

    def _stored(self, request_id: str, step: int) -> ErasureReceipt | None:
        with self._db.session() as session:
            return session.exec(
                select(ErasureReceipt).where(
                    ErasureReceipt.request_id == request_id, ErasureReceipt.step == step
                )
            ).first()

    def _save(self, row: ErasureReceipt) -> None:
        with self._db.write_session() as session:
            session.add(row)
            session.commit()

    def execute(
        self,
        plan: ErasurePlan,
        identifiers: Sequence[Identifier],
        raw: Mapping[str, str],
        authorize: Authorize,
        *,
        on_step: Callable[[Receipt], None] | None = None,
    ) -> list[Receipt]:
        """Run every step not done yet, downstream first; stop at the first failure (the
        receipts say what was done and what was not, and running again resumes)."""
        for step in plan.steps:
            stored = self._stored(plan.request_id, step.step)
            if stored is not None and stored.status in ("done", "exempt"):
                continue
            permission = authorize(step)
            if not permission.allowed:
                raise Conflict(
                    f"step {step.step} ({step.dataset}) is not allowed: {permission.reason}; "
                    "nothing further was erased"
                )
            receipt = self._run_step(plan.request_id, step, stored, identifiers, raw)
            if on_step is not None:
                on_step(receipt)
            if receipt.status == "failed":
                break
        return self.receipts(plan.request_id)

    def _run_step(
        self,
        request_id: str,
        step: ErasureStep,
        stored: ErasureReceipt | None,
        identifiers: Sequence[Identifier],
        raw: Mapping[str, str],
    ) -> Receipt:
        now = datetime.now(UTC)
        if step.action == "model":
            row = stored or ErasureReceipt(
                request_id=request_id,
                step=step.step,
                dataset=step.dataset,
                action="model",
                status="exempt",
                started_at=now,
            )
            row.status, row.finished_at = "exempt", now
            row.detail = step.why
            self._save(row)
            return _receipt(row)
        found = self._search.match(step.dataset, identifiers, raw)
        if found is None:
            raise InvalidInput(f"{step.dataset}: the subject cannot be matched there any more")
        engine, match = found
        try:
            with engine.connect() as conn:
                before = int(
                    conn.execute(
                        sa.select(sa.func.count()).select_from(match.table).where(match.condition)
                    ).scalar_one()
                )
        except sa.exc.OperationalError as exc:
            raise Unavailable(f"{step.dataset}: its database cannot be reached") from exc
        if stored is not None and stored.status == "started" and before == 0:
            # the step committed before the process stopped: complete its receipt
            stored.status, stored.finished_at = "done", now
            stored.rows_erased, stored.rows_remaining = stored.rows_found, 0
            stored.detail = "completed after an interruption (the rows were already gone)"
            self._save(stored)
            return _receipt(stored)
        row = stored or ErasureReceipt(
            request_id=request_id,
            step=step.step,
            dataset=step.dataset,
            action=step.action,
            status="started",
            started_at=now,
        )
        # a started receipt with rows still there: its transaction rolled back; start over
        row.rows_found = before
        row.status, row.fields = "started", json.dumps(step.fields)
        self._save(row)  # before the source is touched: an interruption leaves this trace
        try:
            erased = self._apply(engine, match, step)
            with engine.connect() as conn:
                remaining = int(
                    conn.execute(
                        sa.select(sa.func.count()).select_from(match.table).where(match.condition)
                    ).scalar_one()
                )
        except sa.exc.SQLAlchemyError as exc:
            row.status, row.finished_at = "failed", datetime.now(UTC)
            row.detail = f"{type(exc).__name__}: {str(exc)[:300]} (the transaction was rolled back)"
            self._save(row)
            return _receipt(row)
        row.rows_erased = erased
        row.rows_remaining = remaining
        row.status = "done" if remaining == 0 else "failed"
        row.finished_at = datetime.now(UTC)
        row.detail = (
            "deleted" if step.action == "delete" else "pseudonymized irreversibly (legal hold)"
        )
        if remaining:
            row.detail += f"; {remaining} row(s) still match after the step"
        self._save(row)
        return _receipt(row)

    def _apply(self, engine: sa.Engine, match: Any, step: ErasureStep) -> int:
        table: sa.Table = match.table
        with engine.begin() as conn:
            if step.action == "delete":
                result = conn.execute(sa.delete(table).where(match.condition))
                return int(result.rowcount or 0)
            keys = [c.name for c in table.primary_key.columns] or [table.c[0].name]
            rows = conn.execute(sa.select(*[table.c[k] for k in keys]).where(match.condition)).all()
            for key in rows:
                values: dict[str, Any] = {}
                for name in step.fields:
                    if name not in table.c:
                        continue
                    column = table.c[name]
                    if column.nullable:
                        values[name] = None
                    else:
                        values[name] = f"erased-{uuid.uuid4().hex}"
                where = sa.and_(*[table.c[k] == v for k, v in zip(keys, key, strict=True)])
                conn.execute(sa.update(table).where(where).values(values))
            return len(rows)
