"""The append-only, hash-chained decision log.

Every record carries ``prev_hash`` and ``hash = HMAC(key, prev_hash ‖ canonical(record))``, where
the canonical form covers every column including ``seq``. Appends lock the one-row chain head
(``BEGIN IMMEDIATE`` on SQLite, ``SELECT … FOR UPDATE`` on PostgreSQL), so concurrent writers in
several processes still build one chain. ``verify`` recomputes the chain and names the first
record that is edited, missing, or out of place; the head row catches a truncated tail.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from governance.db import Database
from governance.models import AuditHead, DecisionRecord
from governance.timestamps import iso

GENESIS = "0" * 64


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


@dataclass(frozen=True)
class AuditEntry:
    """A record to append; ``seq`` and the hashes are assigned by the log."""

    decision_id: str
    recorded_at: datetime
    subject: str
    action: str
    dataset: str
    purpose: str
    decision: str
    reason: str
    policy_version: str
    payload: dict[str, Any]
    caller: str = ""
    kind: str = "decision"


_HASHED = (
    "seq",
    "decision_id",
    "kind",
    "recorded_at",
    "caller",
    "subject",
    "action",
    "dataset",
    "purpose",
    "decision",
    "reason",
    "policy_version",
    "payload",
)


def _fields(record: DecisionRecord) -> dict[str, Any]:
    return {
        "seq": record.seq,
        "decision_id": record.decision_id,
        "kind": record.kind,
        "recorded_at": iso(record.recorded_at),
        "caller": record.caller,
        "subject": record.subject,
        "action": record.action,
        "dataset": record.dataset,
        "purpose": record.purpose,
        "decision": record.decision,
        "reason": record.reason,
        "policy_version": record.policy_version,
        "payload": record.payload,
    }


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    first_broken_seq: int | None = None
    problem: str = ""

    def __str__(self) -> str:
        if self.ok:
            return f"audit chain intact: {self.checked} record(s) verified"
        return f"audit chain broken at record {self.first_broken_seq}: {self.problem}"


@dataclass(frozen=True)
class AuditQuery:
    subject: str | None = None
    dataset: str | None = None
    purpose: str | None = None
    decision: str | None = None
    kind: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_seq: int = 0
    limit: int = 100


class AuditLog:
    def __init__(self, db: Database, key: bytes) -> None:
        self._db = db
        self._key = key

    def _hash(self, prev_hash: str, record: DecisionRecord) -> str:
        return self._hash_fields(prev_hash, _fields(record))

    def _hash_fields(self, prev_hash: str, fields: dict[str, Any]) -> str:
        message = prev_hash.encode() + b"\n" + canonical_json(fields).encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def append_in(self, session: Session, entries: Sequence[AuditEntry]) -> list[int]:
        """Append inside the caller's transaction (which must hold the write lock)."""
        if not entries:
            return []
        head = self._locked_head(session)
        seq, prev = head.seq, head.hash or GENESIS
        seqs = []
        rows = []
        for entry in entries:
            seq += 1
            fields = {
                "seq": seq,
                "decision_id": entry.decision_id,
                "kind": entry.kind,
                "recorded_at": iso(entry.recorded_at),
                "caller": entry.caller,
                "subject": entry.subject,
                "action": entry.action,
                "dataset": entry.dataset,
                "purpose": entry.purpose,
                "decision": entry.decision,
                "reason": entry.reason,
                "policy_version": entry.policy_version,
                "payload": canonical_json(entry.payload),
            }
            digest = self._hash_fields(prev, fields)
            rows.append(
                {**fields, "recorded_at": entry.recorded_at, "prev_hash": prev, "hash": digest}
            )
            prev = digest
            seqs.append(seq)
        session.execute(insert(DecisionRecord.__table__), rows)  # type: ignore[attr-defined]
        head.seq, head.hash = seq, prev
        session.add(head)
        return seqs

    @staticmethod
    def _locked_head(session: Session) -> AuditHead:
        """The chain head, locked for this transaction; created (race-free) if missing."""
        stmt = select(AuditHead).where(AuditHead.id == 1).with_for_update()
        head = session.exec(stmt).first()
        if head is None:
            dialect = session.get_bind().dialect.name
            insert = pg_insert if dialect == "postgresql" else sqlite_insert
            session.exec(
                insert(AuditHead)
                .values(id=1, seq=0, hash=GENESIS)
                .on_conflict_do_nothing(index_elements=["id"])
            )
            head = session.exec(stmt).one()
        return head

    def append(self, entries: Sequence[AuditEntry]) -> list[int]:
        with self._db.write_session() as session:
            seqs = self.append_in(session, entries)
            session.commit()
        return seqs

    def _iter_records(self, batch: int = 1000) -> Iterator[DecisionRecord]:
        last = 0
        while True:
            with self._db.session() as session:
                rows = session.exec(
                    select(DecisionRecord)
                    .where(DecisionRecord.seq > last)
                    .order_by(col(DecisionRecord.seq))
                    .limit(batch)
                ).all()
            if not rows:
                return
            yield from rows
            last = rows[-1].seq

    def verify(self) -> Verification:
        """Recompute the whole chain; report the first record that does not fit."""
        expected_seq, prev, checked = 1, GENESIS, 0
        for record in self._iter_records():
            if record.seq != expected_seq:
                return Verification(
                    False,
                    checked,
                    expected_seq,
                    f"record {expected_seq} is missing (next stored record is {record.seq})",
                )
            if record.prev_hash != prev:
                return Verification(
                    False,
                    checked,
                    record.seq,
                    "its link to the previous record does not match (deleted or reordered)",
                )
            if not hmac.compare_digest(self._hash(prev, record), record.hash):
                return Verification(
                    False, checked, record.seq, "its content does not match its hash (edited)"
                )
            prev = record.hash
            expected_seq += 1
            checked += 1
        with self._db.session() as session:
            head = session.get(AuditHead, 1)
        head_seq = head.seq if head else 0
        head_hash = head.hash if head else GENESIS
        if head_seq != checked or (checked and head_hash != prev):
            return Verification(
                False,
                checked,
                checked + 1 if head_seq > checked else head_seq,
                f"the chain head says {head_seq} record(s) but {checked} verify "
                "(records removed from the end, or the head was edited)",
            )
        return Verification(True, checked)

    def query(self, q: AuditQuery) -> list[DecisionRecord]:
        stmt = select(DecisionRecord).where(DecisionRecord.seq > q.after_seq)
        if q.subject:
            stmt = stmt.where(DecisionRecord.subject == q.subject)
        if q.dataset:
            stmt = stmt.where(DecisionRecord.dataset == q.dataset)
        if q.purpose:
            stmt = stmt.where(DecisionRecord.purpose == q.purpose)
        if q.decision:
            stmt = stmt.where(DecisionRecord.decision == q.decision)
        if q.kind:
            stmt = stmt.where(DecisionRecord.kind == q.kind)
        if q.since:
            stmt = stmt.where(col(DecisionRecord.recorded_at) >= q.since)
        if q.until:
            stmt = stmt.where(col(DecisionRecord.recorded_at) < q.until)
        stmt = stmt.order_by(col(DecisionRecord.seq)).limit(q.limit)
        with self._db.session() as session:
            return list(session.exec(stmt).all())

    def count(self) -> int:
        with self._db.session() as session:
            return int(session.exec(select(func.count()).select_from(DecisionRecord)).one())
