"""Documents for one privacy request (the access answer, the erasure receipts) and the
decision audit extract."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from governance.audit import AuditQuery
from governance.errors import Conflict, NotFound
from governance.reports.models import (
    DecisionExtract,
    DecisionRow,
    DsarDocument,
    ErasureDocument,
)
from governance.reports.ropa import controller_out
from governance.reports.sources import ReportSources
from governance.timestamps import iso

EXTRACT_LIMIT = 10_000


def _subjects(src: ReportSources) -> Any:
    if src.subjects is None:
        raise NotFound("data subject rights are not enabled in this service")
    return src.subjects


def build_dsar(src: ReportSources, request_id: str) -> DsarDocument:
    subjects = _subjects(src)
    view = subjects.requests.get(request_id)
    if view.kind != "access":
        raise Conflict(f"request {request_id} is a {view.kind} request, not an access request")
    result = subjects.stored_access(request_id)
    if result is None:
        raise Conflict(f"request {request_id} has no access result yet: run it first")
    return DsarDocument(
        request_id=request_id,
        jurisdiction=view.jurisdiction,
        received_at=iso(view.received_at),
        completed_at=iso(view.completed_at),
        controller=controller_out(src),
        result=result,
    )


def build_erasure(src: ReportSources, request_id: str) -> ErasureDocument:
    subjects = _subjects(src)
    view = subjects.requests.get(request_id)
    if view.kind != "erasure":
        raise Conflict(f"request {request_id} is a {view.kind} request, not an erasure request")
    plan = subjects.stored_plan(request_id)
    if plan is None:
        raise Conflict(f"request {request_id} has no erasure plan yet")
    receipts = subjects.eraser.receipts(request_id)
    return ErasureDocument(
        request_id=request_id,
        jurisdiction=view.jurisdiction,
        status=view.status,
        received_at=iso(view.received_at),
        completed_at=iso(view.completed_at),
        plan=plan,
        receipts=receipts,
        totals={
            "steps": len(plan.steps),
            "done": sum(r.status == "done" for r in receipts),
            "exempt": sum(r.status == "exempt" for r in receipts),
            "failed": sum(r.status == "failed" for r in receipts),
            "rows_found": sum(r.rows_found or 0 for r in receipts),
            "rows_erased": sum(r.rows_erased or 0 for r in receipts),
            "rows_remaining": sum(r.rows_remaining or 0 for r in receipts),
        },
    )


def build_extract(
    src: ReportSources,
    *,
    dataset: str | None,
    subject: str | None,
    purpose: str | None,
    since: datetime | None,
    until: datetime | None,
    verification: dict[str, Any],
) -> DecisionExtract:
    rows: list[DecisionRow] = []
    after = 0
    truncated = False
    while True:
        page = src.audit.query(
            AuditQuery(
                subject=subject,
                dataset=dataset,
                purpose=purpose,
                kind="decision",
                since=since,
                until=until,
                after_seq=after,
                limit=1000,
            )
        )
        for r in page:
            rows.append(
                DecisionRow(
                    seq=r.seq,
                    recorded_at=iso(r.recorded_at),
                    subject=r.subject,
                    action=r.action,
                    dataset=r.dataset,
                    purpose=r.purpose,
                    decision=r.decision,
                    reason=r.reason,
                    policy_version=r.policy_version,
                    hash=r.hash,
                )
            )
        if len(page) < 1000:
            break
        if len(rows) >= EXTRACT_LIMIT:
            truncated = True
            break
        after = page[-1].seq
    return DecisionExtract(
        filters={
            "dataset": dataset,
            "subject": subject,
            "purpose": purpose,
            "since": iso(since),
            "until": iso(until),
        },
        decisions=rows[:EXTRACT_LIMIT],
        total=len(rows),
        truncated=truncated,
        verification=verification,
    )
