"""Privacy requests (data subject requests): opened, verified, worked, closed, on a deadline.

A request has a kind (access, erasure, rectification, opt_out, restrict), a jurisdiction and a
due date: one month under the GDPR (Art. 12(3): the same day of the next month, or its last
day), 45 days under the CCPA (Cal. Civ. Code §1798.130(a)(2)). It moves received → verified →
in_progress → completed, or to denied with a reason; every change is a record in the audit
chain. The subject's identifiers are kept sealed (a bound encryption token: only this table's
column opens it), because the service needs them to search the sources; lists and the audit
chain show only their kinds and the keyed reference.
"""

from __future__ import annotations

import calendar
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import col, select

from governance.audit import AuditEntry
from governance.db import Database
from governance.errors import Conflict, FieldProblem, InvalidInput, NotFound
from governance.models import PrivacyRequest
from governance.pii.operators import Protector
from governance.subjects.identifiers import SubjectIdentifiers, SubjectKeys
from governance.timestamps import iso

KINDS = ("access", "erasure", "rectification", "opt_out", "restrict")
STATUSES = ("received", "verified", "in_progress", "completed", "denied")
OPEN = frozenset({"received", "verified", "in_progress"})
TRANSITIONS: dict[str, frozenset[str]] = {
    "received": frozenset({"verified", "denied"}),
    "verified": frozenset({"in_progress", "completed", "denied"}),
    "in_progress": frozenset({"completed", "denied"}),
    "completed": frozenset(),
    "denied": frozenset(),
}
JURISDICTIONS = ("gdpr", "ccpa")
SEAL_DATASET = "governance/privacy_requests"


def add_month(at: datetime) -> datetime:
    """The same day of the next month, or that month's last day (Art. 12(3) GDPR, as the CJEU
    and Regulation 1182/71 count a period of months)."""
    year, month = (at.year + 1, 1) if at.month == 12 else (at.year, at.month + 1)
    day = min(at.day, calendar.monthrange(year, month)[1])
    return at.replace(year=year, month=month, day=day)


def due_date(received: datetime, jurisdiction: str) -> datetime:
    if jurisdiction == "ccpa":
        return received + timedelta(days=45)
    return add_month(received)


@dataclass(frozen=True)
class RequestView:
    """A privacy request as lists and the API show it: no identifier values."""

    id: str
    kind: str
    status: str
    jurisdiction: str
    subject_ref: str
    identifier_kinds: tuple[str, ...]
    received_at: datetime
    due_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    opened_by: str
    reason: str | None
    has_result: bool
    plan_digest: str | None

    def overdue(self, now: datetime | None = None) -> bool:
        moment = now or datetime.now(UTC)
        return self.status in OPEN and moment > self.due_at

    def public(self, now: datetime | None = None) -> dict[str, Any]:
        moment = now or datetime.now(UTC)
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "jurisdiction": self.jurisdiction,
            "subject_ref": self.subject_ref[:16],
            "identifier_kinds": list(self.identifier_kinds),
            "received_at": iso(self.received_at),
            "due_at": iso(self.due_at),
            "updated_at": iso(self.updated_at),
            "completed_at": iso(self.completed_at),
            "overdue": self.overdue(moment),
            "days_left": (self.due_at - moment).days if self.status in OPEN else None,
            "opened_by": self.opened_by,
            "reason": self.reason,
            "has_result": self.has_result,
            "plan_digest": self.plan_digest,
        }


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _view(row: PrivacyRequest) -> RequestView:
    return RequestView(
        id=row.id,
        kind=row.kind,
        status=row.status,
        jurisdiction=row.jurisdiction,
        subject_ref=row.subject_ref,
        identifier_kinds=tuple(k for k in row.identifier_kinds.split(",") if k),
        received_at=_utc(row.received_at) or row.received_at,
        due_at=_utc(row.due_at) or row.due_at,
        updated_at=_utc(row.updated_at) or row.updated_at,
        completed_at=_utc(row.completed_at),
        opened_by=row.opened_by,
        reason=row.reason,
        has_result=row.result_sealed is not None,
        plan_digest=row.plan_digest,
    )


AuditWriter = Callable[[Sequence[AuditEntry]], Any]
"""Appends records to the audit chain (the decision recorder's group commit)."""


class PrivacyRequests:
    def __init__(
        self,
        db: Database,
        keys: SubjectKeys,
        protector: Callable[[], Protector],
        audit: AuditWriter,
    ) -> None:
        self._db = db
        self._keys = keys
        self._protector = protector
        self._audit = audit

    # ---- sealing ----------------------------------------------------------------------------

    def _seal(self, column: str, value: Any) -> str:
        token = self._protector().encrypt(
            json.dumps(value, sort_keys=True, default=str), dataset=SEAL_DATASET, column=column
        )
        assert token is not None
        return token

    def _open(self, column: str, token: str) -> Any:
        return json.loads(self._protector().decrypt(token, dataset=SEAL_DATASET, column=column))

    # ---- the workflow -----------------------------------------------------------------------

    def open(
        self,
        kind: str,
        subject: SubjectIdentifiers,
        jurisdiction: str,
        *,
        by: str,
        received_at: datetime | None = None,
        note: str | None = None,
    ) -> RequestView:
        if kind not in KINDS:
            raise InvalidInput(
                f"kind is one of {', '.join(KINDS)}", [FieldProblem(("body", "kind"), "bad kind")]
            )
        if jurisdiction not in JURISDICTIONS:
            raise InvalidInput(
                f"jurisdiction is one of {', '.join(JURISDICTIONS)}",
                [FieldProblem(("body", "jurisdiction"), "bad jurisdiction")],
            )
        identifiers = self._keys.identifiers(subject)
        received = received_at or datetime.now(UTC)
        row = PrivacyRequest(
            id=str(uuid.uuid4()),
            kind=kind,
            status="received",
            jurisdiction=jurisdiction,
            subject_ref=self._keys.ref(identifiers[0]),
            identifier_kinds=",".join(i.kind for i in identifiers),
            identifiers_sealed=self._seal("identifiers", subject.items()),
            received_at=received,
            due_at=due_date(received, jurisdiction),
            updated_at=received,
            opened_by=by,
            reason=note,
        )
        with self._db.write_session() as session:
            session.add(row)
            session.commit()
        view = _view(row)
        self._record(view, "open", by, None, note)
        return view

    def get(self, request_id: str) -> RequestView:
        return _view(self._row(request_id))

    def _row(self, request_id: str) -> PrivacyRequest:
        with self._db.session() as session:
            row = session.get(PrivacyRequest, request_id)
        if row is None:
            raise NotFound(f"no privacy request {request_id}")
        return row

    def identifiers(self, request_id: str) -> SubjectIdentifiers:
        """The subject's identifiers, unsealed (for searching the sources)."""
        row = self._row(request_id)
        return SubjectIdentifiers.model_validate(self._open("identifiers", row.identifiers_sealed))

    def list(
        self,
        *,
        status: str | None = None,
        kind: str | None = None,
        overdue: bool | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[RequestView]:
        stmt = select(PrivacyRequest)
        if status:
            stmt = stmt.where(PrivacyRequest.status == status)
        if kind:
            stmt = stmt.where(PrivacyRequest.kind == kind)
        if since:
            stmt = stmt.where(col(PrivacyRequest.received_at) >= since)
        if until:
            stmt = stmt.where(col(PrivacyRequest.received_at) < until)
        if overdue is not None:
            now = datetime.now(UTC)
            late = col(PrivacyRequest.status).in_(list(OPEN)) & (col(PrivacyRequest.due_at) < now)
            stmt = stmt.where(late if overdue else ~late)
        stmt = stmt.order_by(col(PrivacyRequest.due_at), col(PrivacyRequest.id))
        with self._db.session() as session:
            rows = session.exec(stmt.offset(offset).limit(limit)).all()
        return [_view(r) for r in rows]

    def transition(
        self, request_id: str, status: str, *, by: str, reason: str | None = None
    ) -> RequestView:
        if status not in STATUSES:
            raise InvalidInput(
                f"status is one of {', '.join(STATUSES)}",
                [FieldProblem(("body", "status"), "bad status")],
            )
        if status == "denied" and not reason:
            raise InvalidInput(
                "a denial needs a reason", [FieldProblem(("body", "reason"), "required")]
            )
        now = datetime.now(UTC)
        with self._db.write_session() as session:
            row = session.get(PrivacyRequest, request_id)
            if row is None:
                raise NotFound(f"no privacy request {request_id}")
            previous = row.status
            if status == previous:
                return _view(row)
            if status not in TRANSITIONS[previous]:
                allowed = ", ".join(sorted(TRANSITIONS[previous])) or "none (it is closed)"
                raise Conflict(f"a {previous} request cannot become {status}; next: {allowed}")
            row.status = status
            row.updated_at = now
            if status in ("completed", "denied"):
                row.completed_at = now
            if reason:
                row.reason = reason
            session.add(row)
            session.commit()
            view = _view(row)
        self._record(view, f"status:{status}", by, previous, reason)
        return view

    def save_result(
        self, request_id: str, result: dict[str, Any], *, plan_digest: str | None = None
    ) -> None:
        with self._db.write_session() as session:
            row = session.get(PrivacyRequest, request_id)
            if row is None:
                raise NotFound(f"no privacy request {request_id}")
            row.result_sealed = self._seal("result", result)
            if plan_digest is not None:
                row.plan_digest = plan_digest
            row.updated_at = datetime.now(UTC)
            session.add(row)
            session.commit()

    def result(self, request_id: str) -> dict[str, Any] | None:
        row = self._row(request_id)
        if row.result_sealed is None:
            return None
        value = self._open("result", row.result_sealed)
        return value if isinstance(value, dict) else None

    def _record(
        self,
        view: RequestView,
        action: str,
        by: str,
        previous: str | None,
        reason: str | None,
    ) -> None:
        self._audit(
            [
                AuditEntry(
                    decision_id=str(uuid.uuid4()),
                    recorded_at=datetime.now(UTC),
                    subject=f"privacy-request:{view.id}",
                    action=action[:100],
                    dataset="-/privacy_requests",
                    purpose="data_subject_request",
                    decision="record",
                    reason=reason or "",
                    policy_version="-",
                    payload={
                        "request": view.id,
                        "kind": view.kind,
                        "jurisdiction": view.jurisdiction,
                        "status": view.status,
                        "previous": previous,
                        "subject_ref": view.subject_ref[:16],
                        "identifier_kinds": list(view.identifier_kinds),
                        "due_at": iso(view.due_at),
                    },
                    caller=by,
                    kind="privacy_request",
                )
            ]
        )

    def record_step(self, request_id: str, action: str, by: str, payload: dict[str, Any]) -> None:
        """An audit record of work done for a request (a search, an erasure step)."""
        self._audit(
            [
                AuditEntry(
                    decision_id=str(uuid.uuid4()),
                    recorded_at=datetime.now(UTC),
                    subject=f"privacy-request:{request_id}",
                    action=action[:100],
                    dataset=str(payload.get("dataset", "-/privacy_requests"))[:500],
                    purpose="data_subject_request",
                    decision="record",
                    reason=str(payload.get("summary", "")),
                    policy_version="-",
                    payload={"request": request_id, **payload},
                    caller=by,
                    kind="privacy_request",
                )
            ]
        )
