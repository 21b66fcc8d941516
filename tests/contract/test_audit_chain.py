"""The audit trail on both SQL databases: chains per writer, tampering, checkpoints, copies.

The tamper table of the issue: edit, delete, reorder, tail cut and wipe are each detected, with
database access (the database and the audit key) and without it (an export, the anchor file and
the public keys only).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from governance.audit import AuditEntry, AuditLog, AuditQuery, Checkpointer
from governance.audit.chain import GENESIS, hashed_fields, public_hash
from governance.audit.checkpoints import FileAnchorSink, read_checkpoint_file
from governance.audit.verify import Verification, verify_export, write_export
from governance.db import Database
from governance.pii.keyring import KeyRing
from governance.signing import Signer, parse_keyset

KEY = b"contract-test-key"


def entry(i: int, *, subject: str = "user:alice", decision: str = "allow") -> AuditEntry:
    return AuditEntry(
        decision_id=f"00000000-0000-0000-0000-{i:012d}",
        recorded_at=datetime(2026, 11, 1, 12, 0, tzinfo=UTC) + timedelta(seconds=i),
        subject=subject,
        action="read",
        dataset="crm/customers",
        purpose="analytics",
        decision=decision,
        reason=f"reason {i}",
        policy_version="v" * 64,
        payload={"i": i, "note": "ünïcode"},
    )


def run_sql(database: Database, sql: str, **params: object) -> None:
    with database.engine.begin() as conn:
        conn.execute(sa.text(sql), params)


@pytest.fixture
def log(database: Database) -> AuditLog:
    audit = AuditLog(database, KEY)
    audit.append([entry(i) for i in range(1, 11)])
    return audit


class Anchored:
    """A log of 10 records whose heads are anchored in a checkpoint file."""

    def __init__(self, database: Database, tmp: Path) -> None:
        self.database = database
        self.audit = AuditLog(database, KEY)
        self.audit.append([entry(i) for i in range(1, 11)])
        self.signer = Signer(KeyRing.generate())
        self.sink = FileAnchorSink(tmp / "anchor.jsonl")
        self.checkpointer = Checkpointer(self.audit, self.signer, [self.sink])
        assert self.checkpointer.checkpoint_now() is not None
        self.keys_file = tmp / "keys.json"
        self.keys_file.write_text(json.dumps(self.signer.keyset()))
        self.export = tmp / "export.jsonl"

    def online(self) -> Verification:
        keys = {k.key_id: k for k in self.signer.public_keys()}
        result: Verification = self.audit.verify(self.sink.read(), keys)
        return result

    def offline(self) -> Verification:
        """What an auditor without database credentials or the audit key can check."""
        write_export(AuditLog(self.database, b""), self.export)
        keys = parse_keyset(json.loads(self.keys_file.read_text()))
        return verify_export(self.export, read_checkpoint_file(self.sink.path), keys)


@pytest.fixture
def anchored(database: Database, tmp_path: Path) -> Anchored:
    return Anchored(database, tmp_path)


def test_an_untouched_chain_verifies(log: AuditLog) -> None:
    result = log.verify()
    assert result.ok, result
    assert result.checked == 10
    assert result.chains == 1


def test_an_untouched_anchored_trail_verifies_online_and_offline(anchored: Anchored) -> None:
    for result in (anchored.online(), anchored.offline()):
        assert result.ok, result
        assert result.checked == 10
        assert result.checkpoints == 1
        assert result.unanchored == 0


def test_appends_continue_the_chain(log: AuditLog) -> None:
    first = log.query(AuditQuery(limit=100))
    seqs = log.append([entry(11), entry(12)])
    assert seqs[0] > first[-1].seq
    assert seqs[1] > seqs[0]
    assert log.verify().checked == 12
    positions = [r.chain_seq for r in log.query(AuditQuery(limit=100))]
    assert positions == list(range(1, 13))


def _tail_cut(db: Database, keep: int) -> None:
    run_sql(db, "DELETE FROM decision_log WHERE chain_seq > :k", k=keep)
    run_sql(
        db,
        "UPDATE audit_chain SET head_seq = :k, head_hash = "
        "(SELECT hash FROM decision_log WHERE chain = 'main' AND chain_seq = :k)",
        k=keep,
    )


def _rehash_from(db: Database, start: int) -> None:
    """What an attacker without the audit key can do: recompute the public hashes (not MACs)."""
    from sqlmodel import Session, select

    from governance.models import AuditChain, DecisionRecord

    with Session(db.engine) as session:
        rows = session.exec(select(DecisionRecord).order_by(DecisionRecord.chain_seq)).all()
        prev = GENESIS
        for row in rows:
            if row.chain_seq >= start:
                row.prev_hash = prev
                row.hash = public_hash(prev, hashed_fields(row))
                session.add(row)
            prev = row.hash
        head = session.exec(select(AuditChain)).one()
        head.head_hash = prev
        session.add(head)
        session.commit()


def _swap(db: Database, a: int, b: int) -> None:
    run_sql(db, "UPDATE decision_log SET chain_seq = -1 WHERE chain_seq = :a", a=a)
    run_sql(db, "UPDATE decision_log SET chain_seq = :a WHERE chain_seq = :b", a=a, b=b)
    run_sql(db, "UPDATE decision_log SET chain_seq = :b WHERE chain_seq = -1", b=b)


def _edit(db: Database) -> None:
    run_sql(db, "UPDATE decision_log SET decision = 'deny' WHERE chain_seq = 4")


def _edit_and_rehash(db: Database) -> None:
    _edit(db)
    _rehash_from(db, 4)


def _wipe(db: Database) -> None:
    run_sql(db, "DELETE FROM decision_log")
    run_sql(db, "DELETE FROM audit_chain")


TAMPERING: dict[str, tuple[Callable[[Database], None], str]] = {
    "edit": (_edit, "edited"),
    "edit, then recompute every hash": (_edit_and_rehash, ""),
    "delete": (lambda db: run_sql(db, "DELETE FROM decision_log WHERE chain_seq = 5"), "missing"),
    "reorder": (lambda db: _swap(db, 3, 6), ""),
    "tail cut": (lambda db: _tail_cut(db, 7), "cut tail"),
    "wipe": (_wipe, "wipe"),
}


@pytest.mark.parametrize("how", list(TAMPERING))
def test_tampering_is_detected_with_and_without_database_access(
    anchored: Anchored, how: str
) -> None:
    tamper, word = TAMPERING[how]
    tamper(anchored.database)
    for mode, result in (("online", anchored.online()), ("offline", anchored.offline())):
        assert not result.ok, f"{how} was not detected {mode}: {result}"
        assert word in result.problem, (mode, result.problem)


def test_without_a_checkpoint_a_cut_tail_would_pass(log: AuditLog, database: Database) -> None:
    """Why the anchor exists: the database alone cannot tell a cut tail from a short chain."""
    _tail_cut(database, 7)
    result = log.verify()
    assert result.ok
    assert any("no checkpoint" in w for w in result.warnings)


def test_a_recomputed_chain_fails_its_macs_online(log: AuditLog, database: Database) -> None:
    run_sql(database, "UPDATE decision_log SET reason = 'ok' WHERE chain_seq = 2")
    _rehash_from(database, 2)
    result = log.verify()
    assert not result.ok
    assert result.broken_chain_seq == 2
    assert "MAC" in result.problem


def test_a_forged_checkpoint_line_is_refused(anchored: Anchored) -> None:
    lines = anchored.sink.path.read_text().splitlines()
    forged = json.loads(lines[-1])
    forged["chains"][0]["seq"] = 7
    anchored.sink.path.write_text("\n".join([*lines, json.dumps(forged)]) + "\n")
    result = anchored.online()
    assert not result.ok
    assert "signature" in result.problem


def test_a_different_key_does_not_verify(log: AuditLog, database: Database) -> None:
    assert not AuditLog(database, b"another key").verify().ok


def test_each_writer_appends_to_its_own_chain(database: Database, tmp_path: Path) -> None:
    """Writers (processes) lease chains; one checkpoint ties every head together."""
    writers = [AuditLog(database, KEY) for _ in range(3)]
    errors: list[BaseException] = []

    def write(audit: AuditLog, base: int) -> None:
        try:
            for i in range(15):
                audit.append([entry(base + i)])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=write, args=(w, 1000 * (n + 1))) for n, w in enumerate(writers)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len({w.chain for w in writers}) == 3
    signer = Signer(KeyRing.generate())
    sink = FileAnchorSink(tmp_path / "anchor.jsonl")
    checkpoint = Checkpointer(writers[0], signer, [sink]).checkpoint_now()
    assert checkpoint is not None
    assert len(checkpoint["chains"]) == 3
    assert checkpoint["records"] == 45
    keys = {k.key_id: k for k in signer.public_keys()}
    result = writers[0].verify(sink.read(), keys)
    assert result.ok, result
    assert result.checked == 45
    assert result.chains == 3
    # the merged trail pages in seq order across every chain
    seqs = [r.seq for r in writers[0].query(AuditQuery(limit=1000))]
    assert seqs == sorted(seqs)
    assert len(seqs) == 45


def test_a_released_chain_is_continued_by_the_next_writer(database: Database) -> None:
    first = AuditLog(database, KEY)
    first.append([entry(1), entry(2)])
    first.release()
    second = AuditLog(database, KEY)
    second.append([entry(3)])
    assert second.chain == first_chain(database)
    assert [r.chain_seq for r in second.query(AuditQuery(limit=10))] == [1, 2, 3]
    assert second.verify().ok


def first_chain(database: Database) -> str:
    with database.engine.connect() as conn:
        return str(conn.execute(sa.text("SELECT chain FROM audit_chain")).scalar_one())


def test_threads_of_one_writer_share_its_chain(database: Database) -> None:
    audit = AuditLog(database, KEY)
    threads = [
        threading.Thread(target=lambda b=b: [audit.append([entry(b + i)]) for i in range(10)])
        for b in (100, 200, 300)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = audit.verify()
    assert result.ok, result
    assert result.checked == 30
    assert result.chains == 1


def test_query_filters_and_pages(database: Database) -> None:
    audit = AuditLog(database, KEY)
    audit.append(
        [
            entry(
                i,
                subject="user:bob" if i % 3 == 0 else "user:alice",
                decision="deny" if i % 2 else "allow",
            )
            for i in range(1, 21)
        ]
    )
    every = audit.query(AuditQuery(limit=100))
    by_i = {json.loads(r.payload)["i"]: r.seq for r in every}
    bobs = audit.query(AuditQuery(subject="user:bob", limit=100))
    assert [r.seq for r in bobs] == [by_i[i] for i in (3, 6, 9, 12, 15, 18)]
    denied_bob = audit.query(AuditQuery(subject="user:bob", decision="deny"))
    assert [r.seq for r in denied_bob] == [by_i[i] for i in (3, 9, 15)]
    page1 = audit.query(AuditQuery(limit=7))
    page2 = audit.query(AuditQuery(limit=7, after_seq=page1[-1].seq))
    assert [r.seq for r in page1] == [by_i[i] for i in range(1, 8)]
    assert [r.seq for r in page2] == [by_i[i] for i in range(8, 15)]
    start = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    window = audit.query(
        AuditQuery(since=start + timedelta(seconds=5), until=start + timedelta(seconds=8))
    )
    assert [r.seq for r in window] == [by_i[i] for i in (5, 6, 7)]


def test_export_holds_every_record_and_no_key_material(anchored: Anchored) -> None:
    write_export(AuditLog(anchored.database, b""), anchored.export)
    text = anchored.export.read_text()
    assert len(text.splitlines()) == 11  # header and 10 records
    assert KEY.decode() not in text
    assert hashlib.sha256(KEY).hexdigest() not in text
