"""Column classifications in the SQL store: scan suggestions and the stewards' reviews.

* A scan records, per column, the PII types it found (or ``NONE``) as *suggested* rows with
  their confidence and evidence. Suggestions the column no longer shows are withdrawn; rows a
  steward reviewed are never withdrawn and never change status by a scan (the choice sticks).
* A steward *confirms* or *rejects* a type for a column (confirming a type nobody suggested
  adds it). Confirmed types override ``catalog.yaml`` in the policy decision point; the latest
  confirmed type of a column wins when there are several.
* Every write also produces an OpenLineage ``DatasetEvent`` with the ``governance_classification``
  facet, so the classification reaches the lineage graph (through the outbox) and travels
  downstream along column lineage.

The decision point reads classifications from an in-memory snapshot, never from the database
on the decision path; the snapshot is rebuilt when the table changes (checked by polling a
cheap ``count``/``max(updated_at)`` fingerprint, so every worker process sees other workers'
reviews within the poll interval).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, delete, func, select, update

from governance.db import Database
from governance.decisions import FACETS_BASE, PRODUCER, split_dataset
from governance.errors import InvalidInput, NotFound
from governance.models import ColumnClassification
from governance.pii.types import NOT_PII
from lineage.events import classifications_in

log = logging.getLogger(__name__)

TABLE: Table = ColumnClassification.__table__  # type: ignore[attr-defined]
SUGGESTED, CONFIRMED, REJECTED = "suggested", "confirmed", "rejected"
DATASET_EVENT_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent"


@dataclass(frozen=True)
class Suggestion:
    """What a scan says about one column."""

    column: str
    pii_types: tuple[str, ...]  # empty: no PII found (recorded as NONE)
    confidence: float
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Classification:
    dataset: str
    column: str
    pii_type: str
    source: str
    status: str
    confidence: float
    evidence: dict[str, Any]
    updated_at: datetime
    reviewed_by: str | None
    reviewed_at: datetime | None

    def public(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "column": self.column,
            "pii_type": self.pii_type,
            "source": self.source,
            "status": self.status,
            "confidence": round(self.confidence, 4),
            "evidence": self.evidence,
            "updated_at": self.updated_at.isoformat(),
            "reviewed_by": self.reviewed_by,
            "reviewed_at": self.reviewed_at.isoformat() if self.reviewed_at else None,
        }


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _record(row: Any) -> Classification:
    updated = _utc(row.updated_at)
    assert updated is not None
    return Classification(
        dataset=row.dataset,
        column=row.column_name,
        pii_type=row.pii_type,
        source=row.source,
        status=row.status,
        confidence=float(row.confidence),
        evidence=json.loads(row.evidence or "{}"),
        updated_at=updated,
        reviewed_by=row.reviewed_by,
        reviewed_at=_utc(row.reviewed_at),
    )


def classification_event(
    dataset: str, entries: Mapping[str, Sequence[tuple[str, float, str]]], at: datetime
) -> dict[str, Any]:
    """An OpenLineage DatasetEvent carrying ``governance_classification`` for some columns."""
    namespace, name = split_dataset(dataset)
    return {
        "eventTime": at.isoformat().replace("+00:00", "Z"),
        "producer": PRODUCER,
        "schemaURL": DATASET_EVENT_SCHEMA,
        "dataset": {
            "namespace": namespace,
            "name": name,
            "facets": {
                "governance_classification": {
                    "_producer": PRODUCER,
                    "_schemaURL": f"{FACETS_BASE}/GovernanceClassificationDatasetFacet.json",
                    "fields": {
                        column: [
                            {"piiType": t, "confidence": round(c, 4), "source": s}
                            for t, c, s in items
                        ]
                        for column, items in entries.items()
                        if items
                    },
                }
            },
        },
    }


EventSink = Callable[[list[dict[str, Any]]], object]


@dataclass(frozen=True)
class LineageClaim:
    dataset: str
    column: str
    pii_type: str
    confidence: float
    producer: str


def producer_claims(events: Sequence[Mapping[str, Any]]) -> list[LineageClaim]:
    """What other producers' events say in ``governance_classification`` facets (validated
    events: the facet's shape is already checked). Our own classification events are skipped:
    they were written from this store."""
    out: list[LineageClaim] = []
    for event in events:
        producer = str(event.get("producer", ""))
        if producer == PRODUCER:
            continue
        if isinstance(event.get("dataset"), Mapping):
            datasets = [event["dataset"]]
        else:
            datasets = [*(event.get("inputs") or []), *(event.get("outputs") or [])]
        for d in datasets:
            out.extend(
                LineageClaim(
                    f"{d['namespace']}/{d['name']}",
                    c.field,
                    c.pii_type,
                    c.confidence,
                    producer[:200],
                )
                for c in classifications_in(d.get("facets"))
            )
    return out


class ClassificationStore:
    def __init__(
        self, db: Database, *, events: EventSink | None = None, poll_seconds: float = 0.0
    ) -> None:
        self._db = db
        self._poll_seconds = poll_seconds
        self._events = events
        self._snapshot: dict[str, dict[str, str]] = {}
        self._fingerprint: tuple[int, Any] | None = None
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- writes ---------------------------------------------------------------------------

    def record_scan(
        self, dataset: str, suggestions: Sequence[Suggestion], *, at: datetime | None = None
    ) -> list[Classification]:
        at = at or datetime.now(UTC)
        lineage: dict[str, list[tuple[str, float, str]]] = {}
        with self._db.write_session() as session:
            for s in suggestions:
                types = list(s.pii_types) or [NOT_PII]
                existing = {
                    row.pii_type: row
                    for row in session.execute(
                        select(TABLE).where(
                            TABLE.c.dataset == dataset, TABLE.c.column_name == s.column
                        )
                    )
                }
                evidence = json.dumps(dict(s.evidence), sort_keys=True, default=str)
                for t in types:
                    row = existing.get(t)
                    if row is None:
                        session.execute(
                            TABLE.insert().values(
                                dataset=dataset,
                                column_name=s.column,
                                pii_type=t,
                                source="scan",
                                status=SUGGESTED,
                                confidence=s.confidence,
                                evidence=evidence,
                                created_at=at,
                                updated_at=at,
                            )
                        )
                    else:  # a steward's status sticks; the evidence is refreshed
                        session.execute(
                            update(TABLE)
                            .where(TABLE.c.id == row.id)
                            .values(confidence=s.confidence, evidence=evidence, updated_at=at)
                        )
                stale = [
                    row.id
                    for t, row in existing.items()
                    if t not in types and row.status == SUGGESTED and row.source == "scan"
                ]
                if stale:
                    session.execute(delete(TABLE).where(TABLE.c.id.in_(stale)))
                found = [t for t in types if t != NOT_PII]
                if found:
                    lineage[s.column] = [(t, s.confidence, "scan") for t in found]
            session.commit()
        self._emit(dataset, lineage, at)
        return self.list(dataset=dataset)

    def record_lineage(self, entries: Sequence[LineageClaim], *, at: datetime | None = None) -> int:
        """Classifications that producers declared in their events (``source: lineage``).

        They are suggestions for a steward to review, like a scan's: they never override a row
        that exists (a steward's rejection stays a rejection) and never change decisions until
        confirmed. Nothing is emitted: they came from lineage. Returns how many were new."""
        at = at or datetime.now(UTC)
        added = 0
        with self._db.write_session() as session:
            for claim in dict.fromkeys(entries):
                exists = session.execute(
                    select(TABLE.c.id).where(
                        TABLE.c.dataset == claim.dataset,
                        TABLE.c.column_name == claim.column,
                        TABLE.c.pii_type == claim.pii_type,
                    )
                ).first()
                if exists is not None:
                    continue
                session.execute(
                    TABLE.insert().values(
                        dataset=claim.dataset,
                        column_name=claim.column,
                        pii_type=claim.pii_type,
                        source="lineage",
                        status=SUGGESTED,
                        confidence=claim.confidence,
                        evidence=json.dumps({"producer": claim.producer}),
                        created_at=at,
                        updated_at=at,
                    )
                )
                added += 1
            session.commit()
        return added

    def review(
        self,
        dataset: str,
        column: str,
        pii_type: str,
        *,
        status: str,
        by: str,
        known_types: frozenset[str] | None = None,
    ) -> Classification:
        if status not in (CONFIRMED, REJECTED):
            raise InvalidInput(f"status must be {CONFIRMED} or {REJECTED}, not {status!r}")
        if known_types is not None and pii_type not in known_types:
            raise InvalidInput(f"unknown PII type {pii_type!r}")
        at = datetime.now(UTC)
        with self._db.write_session() as session:
            row = session.execute(
                select(TABLE).where(
                    TABLE.c.dataset == dataset,
                    TABLE.c.column_name == column,
                    TABLE.c.pii_type == pii_type,
                )
            ).first()
            if row is None:
                if status == REJECTED:
                    raise NotFound(f"nothing suggests {pii_type} for {dataset}.{column}")
                session.execute(
                    TABLE.insert().values(
                        dataset=dataset,
                        column_name=column,
                        pii_type=pii_type,
                        source="steward",
                        status=status,
                        confidence=1.0,
                        evidence="{}",
                        created_at=at,
                        updated_at=at,
                        reviewed_by=by,
                        reviewed_at=at,
                    )
                )
            else:
                session.execute(
                    update(TABLE)
                    .where(TABLE.c.id == row.id)
                    .values(status=status, updated_at=at, reviewed_by=by, reviewed_at=at)
                )
            session.commit()
        if status == CONFIRMED and pii_type != NOT_PII:
            self._emit(dataset, {column: [(pii_type, 1.0, "steward")]}, at)
        self.refresh()
        [found] = [c for c in self.list(dataset=dataset, column=column) if c.pii_type == pii_type]
        return found

    def _emit(
        self, dataset: str, entries: Mapping[str, Sequence[tuple[str, float, str]]], at: datetime
    ) -> None:
        if self._events is None or not entries:
            return
        try:
            self._events([classification_event(dataset, entries, at)])
        except Exception as exc:  # the classification stands; lineage catches up on next write
            log.warning("classification of %s not sent to lineage: %s", dataset, type(exc).__name__)

    # ---- reads ----------------------------------------------------------------------------

    def list(
        self, *, dataset: str | None = None, column: str | None = None, status: str | None = None
    ) -> list[Classification]:
        query = select(TABLE).order_by(TABLE.c.dataset, TABLE.c.column_name, TABLE.c.pii_type)
        if dataset is not None:
            query = query.where(TABLE.c.dataset == dataset)
        if column is not None:
            query = query.where(TABLE.c.column_name == column)
        if status is not None:
            query = query.where(TABLE.c.status == status)
        with self._db.session() as session:
            return [_record(row) for row in session.execute(query)]

    def confirmed(self, dataset: str) -> Mapping[str, str]:
        """Column → confirmed PII type of ``dataset``, from the in-memory snapshot."""
        return self._snapshot.get(dataset, {})

    def fingerprint(self) -> tuple[int, Any]:
        with self._db.session() as session:
            count, latest = session.execute(
                select(func.count(), func.max(TABLE.c.updated_at)).select_from(TABLE)
            ).one()
        return int(count), latest

    def refresh(self) -> bool:
        """Rebuild the snapshot if the table changed; True (and listeners told) if it did."""
        with self._lock:
            now = self.fingerprint()
            if now == self._fingerprint:
                return False
            snapshot: dict[str, dict[str, str]] = {}
            latest: dict[tuple[str, str], datetime] = {}
            for c in self.list(status=CONFIRMED):
                key = (c.dataset, c.column)
                when = c.reviewed_at or c.updated_at
                if key not in latest or when >= latest[key]:
                    latest[key] = when
                    snapshot.setdefault(c.dataset, {})[c.column] = c.pii_type
            self._snapshot = snapshot
            self._fingerprint = now
        for listener in self._listeners:
            listener()
        return True

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def start(self) -> None:
        self.refresh()
        interval = self._poll_seconds
        if interval <= 0 or self._thread is not None:
            return

        def run() -> None:
            while not self._stop.wait(interval):
                try:
                    self.refresh()
                except Exception as exc:  # keep serving the last snapshot
                    log.warning("classification refresh failed: %s", type(exc).__name__)

        self._thread = threading.Thread(target=run, name="classification-refresh", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
