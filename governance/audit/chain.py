"""Appending to the hash-chained decision log, and reading it back.

Each process appends to a chain of its own, leased from the ``audit_chain`` table, so writers
on PostgreSQL never wait for each other; the lease is renewed by every append and given back on
exit, and a chain whose lease lapsed is taken over by the next process that needs one. An append
locks its chain's head row (``SELECT … FOR UPDATE``; SQLite's single writer lock does the same),
so even two processes that end up on one chain keep it whole.

A record (``hash_format`` 2) carries ``hash = SHA-256(prev_hash ‖ canonical(record))``, which
anyone can recompute from a copy, and ``mac = HMAC(audit key, hash)``, which only the service
can make. Records written before chains were partitioned keep format 1 (``hash`` is the HMAC).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import func, insert, or_, text
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from governance.db import Database
from governance.models import DECISION_SEQ, AuditChain, DecisionRecord
from governance.timestamps import iso

GENESIS = "0" * 64
FORMAT_HMAC = 1
FORMAT_PUBLIC = 2
FIRST_CHAIN = "main"


def _stdlib_canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _plain(value: Any) -> bool:
    """Only str keys, and str, int, bool, None, dict and list values: what orjson writes byte
    for byte as the standard library does (floats, tuples, enums, dates … it writes otherwise)."""
    stack = [value]
    pop, push_all = stack.pop, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is str or kind is int or kind is bool or item is None:
            continue
        if kind is dict:
            for key in item:
                if type(key) is not str:
                    return False
            push_all(item.values())
        elif kind is list:
            push_all(item)
        else:
            return False
    return True


def canonical_json(value: Any) -> str:
    """The text a record's hash covers: sorted keys, no spaces, UTF-8 (the standard library's
    ``json.dumps`` with ``sort_keys`` and ``ensure_ascii=False``; records are verified by it).

    orjson writes the plain values of a decision record the same way at a third of the cost
    (the recorder encodes every record twice); anything else, or anything orjson refuses (an
    int over 64 bits, a lone surrogate), is written by the standard library."""
    if _plain(value):
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
        except orjson.JSONEncodeError:
            pass
    return _stdlib_canonical(value)


@dataclass(frozen=True)
class AuditEntry:
    """A record to append; ``seq``, the chain position and the hashes are assigned by the log."""

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


_COMMON = (
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


def hashed_fields(record: Any) -> dict[str, Any]:
    """What a record's hash covers, by its format (``record`` is a row or an exported dict)."""

    def get(name: str) -> Any:
        return record[name] if isinstance(record, dict) else getattr(record, name)

    out: dict[str, Any] = {name: get(name) for name in _COMMON}
    recorded = out["recorded_at"]
    out["recorded_at"] = iso(recorded) if isinstance(recorded, datetime) else recorded
    if int(get("hash_format")) == FORMAT_HMAC:
        out["seq"] = get("seq")
    else:
        out["seq"] = get("seq")
        out["chain"] = get("chain")
        out["chain_seq"] = get("chain_seq")
    return out


def _message(prev_hash: str, fields: dict[str, Any]) -> bytes:
    return prev_hash.encode() + b"\n" + canonical_json(fields).encode()


def public_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """Format 2's hash: needs no key, so a copy can be checked by anyone."""
    return hashlib.sha256(_message(prev_hash, fields)).hexdigest()


def hmac_hash(key: bytes, prev_hash: str, fields: dict[str, Any]) -> str:
    """Format 1's hash: the HMAC of the same message."""
    return hmac.new(key, _message(prev_hash, fields), hashlib.sha256).hexdigest()


def mac_of(key: bytes, digest: str) -> str:
    return hmac.new(key, digest.encode(), hashlib.sha256).hexdigest()


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


@dataclass(frozen=True)
class ChainHead:
    chain: str
    seq: int
    hash: str


@dataclass(frozen=True)
class _Head:
    """A chain's head row as locked for an append."""

    chain: str
    head_seq: int
    head_hash: str | None


def _owner_id() -> str:
    return f"{socket.gethostname()[:30]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class AuditLog:
    """The decision log of one process: appends to its leased chain, reads the merged trail."""

    def __init__(self, db: Database, key: bytes, *, lease_seconds: float = 60.0) -> None:
        self._db = db
        self._key = key
        self._owner = _owner_id()
        self._lease = timedelta(seconds=lease_seconds)
        self._chain: str | None = None
        self._claim_lock = threading.Lock()

    @property
    def key(self) -> bytes:
        return self._key

    @property
    def db(self) -> Database:
        return self._db

    @property
    def chain(self) -> str | None:
        """The chain this process appends to (None until its first append)."""
        return self._chain

    # ---- appending ---------------------------------------------------------------------------

    def append_in(self, session: Session, entries: Sequence[AuditEntry]) -> list[int]:
        """Append inside the caller's transaction (which must hold the write lock on SQLite).

        Returns the records' ``seq`` numbers, in order."""
        if not entries:
            return []
        head = self._locked_head(session)
        seqs = self._allocate(session, len(entries))
        position, prev = head.head_seq, head.head_hash or GENESIS
        rows = []
        for entry, seq in zip(entries, seqs, strict=True):
            position += 1
            row = {
                "seq": seq,
                "chain": head.chain,
                "chain_seq": position,
                "hash_format": FORMAT_PUBLIC,
                "decision_id": entry.decision_id,
                "kind": entry.kind,
                "recorded_at": entry.recorded_at,
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
            digest = public_hash(prev, hashed_fields(row))
            row.update(prev_hash=prev, hash=digest, mac=mac_of(self._key, digest))
            rows.append(row)
            prev = digest
        session.execute(insert(DecisionRecord.__table__), rows)  # type: ignore[attr-defined]
        chains = AuditChain.__table__  # type: ignore[attr-defined]
        session.execute(  # Core, not the ORM's unit of work: this runs once per group commit
            chains.update()
            .where(chains.c.chain == head.chain)
            .values(
                head_seq=position,
                head_hash=prev,
                owner=self._owner,
                lease_until=datetime.now(UTC) + self._lease,
            )
        )
        return list(seqs)

    def append(self, entries: Sequence[AuditEntry]) -> list[int]:
        with self._db.write_session() as session:
            seqs = self.append_in(session, entries)
            session.commit()
        return seqs

    def _allocate(self, session: Session, n: int) -> list[int]:
        """``n`` new ``seq`` numbers: from the sequence on PostgreSQL, max + 1 on SQLite (whose
        write lock this transaction holds)."""
        if session.get_bind().dialect.name == "postgresql":
            rows = session.execute(
                text(f"SELECT nextval('{DECISION_SEQ.name}') FROM generate_series(1, :n)"),
                {"n": n},
            )
            return sorted(int(r[0]) for r in rows)
        top = session.exec(select(func.coalesce(func.max(DecisionRecord.seq), 0))).one()
        return list(range(int(top) + 1, int(top) + 1 + n))

    def _locked_head(self, session: Session) -> _Head:
        for _ in range(5):
            if self._chain is None:
                # threads of one writer share its chain: the first claims, the others wait here
                # (before they have touched the database, so they hold no lock while waiting)
                with self._claim_lock:
                    if self._chain is None:
                        self._chain = self._claim_committed()
            chains = AuditChain.__table__  # type: ignore[attr-defined]
            stmt = (
                sa_select(chains.c.chain, chains.c.head_seq, chains.c.head_hash)
                .where(chains.c.chain == self._chain)
                .with_for_update()
            )
            head = session.execute(stmt).first()
            if head is not None:
                return _Head(head.chain, int(head.head_seq), head.head_hash)
            self._chain = None  # the chain row went away: claim again
        raise RuntimeError("no audit chain could be claimed")

    def _claim_committed(self) -> str:
        """Claim in a transaction of its own, so the chain row is visible to every writer (a
        claim still uncommitted would be invisible to the others' ``FOR UPDATE``)."""
        with self._db.write_session() as claim:
            name = self._claim(claim)
            claim.commit()
        return name

    def _claim(self, session: Session) -> str:
        """A free chain (never leased, or its lease lapsed), else a new one."""
        now = datetime.now(UTC)
        free = (
            select(AuditChain)
            .where(
                or_(
                    col(AuditChain.owner).is_(None),
                    col(AuditChain.owner) == self._owner,
                    col(AuditChain.lease_until) < now,
                )
            )
            .order_by(col(AuditChain.owner) == self._owner, col(AuditChain.chain))
            .limit(1)
        )
        if session.get_bind().dialect.name == "postgresql":
            free = free.with_for_update(skip_locked=True)
        row = session.exec(free).first()
        if row is not None:
            row.owner, row.lease_until = self._owner, now + self._lease
            session.add(row)
            session.flush()
            return row.chain
        exists = session.exec(select(func.count()).select_from(AuditChain)).one()
        dialect = session.get_bind().dialect.name
        insert_ = pg_insert if dialect == "postgresql" else sqlite_insert
        for name in (FIRST_CHAIN if not exists else None, f"c-{uuid.uuid4().hex[:12]}"):
            if name is None:
                continue
            created = session.execute(
                insert_(AuditChain)
                .values(
                    chain=name,
                    head_seq=0,
                    head_hash=GENESIS,
                    owner=self._owner,
                    lease_until=now + self._lease,
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["chain"])
                .returning(AuditChain.__table__.c.chain)  # type: ignore[attr-defined]
            ).first()
            if created is not None:  # not taken by a writer that got there first
                return name
        raise RuntimeError("no audit chain could be created")

    def release(self) -> None:
        """Give the chain back (on exit), so the next process continues it."""
        if self._chain is None:
            return
        try:
            with self._db.write_session() as session:
                row = session.get(AuditChain, self._chain)
                if row is not None and row.owner == self._owner:
                    row.owner, row.lease_until = None, None
                    session.add(row)
                    session.commit()
        except Exception:  # noqa: S110 - the lease lapses on its own
            pass
        self._chain = None

    def verify(self, checkpoints: Sequence[Any] = (), keys: Any = None) -> Any:
        """``governance.audit.verify.verify_database`` on this log (a ``Verification``)."""
        from governance.audit.verify import verify_database

        return verify_database(self, checkpoints, keys)

    # ---- reading -----------------------------------------------------------------------------

    def heads(self) -> list[ChainHead]:
        """Every chain's head, as committed."""
        with self._db.session() as session:
            rows = session.exec(select(AuditChain).order_by(col(AuditChain.chain))).all()
        return [ChainHead(r.chain, int(r.head_seq), r.head_hash) for r in rows]

    def chain_records(self, chain: str, batch: int = 2000) -> Iterator[DecisionRecord]:
        """One chain's records in chain order (keyset pages; the (chain, chain_seq) index)."""
        last = 0
        while True:
            with self._db.session() as session:
                rows = session.exec(
                    select(DecisionRecord)
                    .where(DecisionRecord.chain == chain, DecisionRecord.chain_seq > last)
                    .order_by(col(DecisionRecord.chain_seq))
                    .limit(batch)
                ).all()
            if not rows:
                return
            yield from rows
            last = rows[-1].chain_seq

    def chains(self) -> list[str]:
        """Every chain named by a head or by a record (a wiped head still shows its records)."""
        with self._db.session() as session:
            named = set(session.exec(select(AuditChain.chain)).all())
            named |= set(session.exec(select(DecisionRecord.chain).distinct()).all())
        return sorted(named)

    def records(self, batch: int = 2000) -> Iterator[DecisionRecord]:
        """The merged trail, in ``seq`` order."""
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

    def usage(
        self, datasets: Sequence[str], *, kind: str = "decision"
    ) -> list[tuple[str, str, str, str, int, datetime, datetime]]:
        """Per dataset, purpose, subject and decision: how many records, first and last (one
        grouped query over the (dataset, recorded_at) index)."""
        if not datasets:
            return []
        t = DecisionRecord.__table__  # type: ignore[attr-defined]
        stmt = (
            sa_select(
                t.c.dataset,
                t.c.purpose,
                t.c.subject,
                t.c.decision,
                func.count(),
                func.min(t.c.recorded_at),
                func.max(t.c.recorded_at),
            )
            .where(t.c.dataset.in_(list(datasets)), t.c.kind == kind)
            .group_by(t.c.dataset, t.c.purpose, t.c.subject, t.c.decision)
        )
        with self._db.session() as session:
            rows = session.execute(stmt).all()
        return [
            (d, p, s, e, int(n), _aware(first), _aware(last)) for d, p, s, e, n, first, last in rows
        ]

    def count(self) -> int:
        with self._db.session() as session:
            return int(session.exec(select(func.count()).select_from(DecisionRecord)).one())


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def export_row(record: DecisionRecord) -> dict[str, Any]:
    """A record as the export file (and offline verification) holds it."""
    return {
        "seq": record.seq,
        "chain": record.chain,
        "chain_seq": record.chain_seq,
        "hash_format": record.hash_format,
        **{name: getattr(record, name) for name in _COMMON if name != "recorded_at"},
        "recorded_at": iso(record.recorded_at),
        "prev_hash": record.prev_hash,
        "hash": record.hash,
        "mac": record.mac,
    }
