"""The hash-chained audit log on both SQL databases: appends, tampering, concurrency."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from governance.audit import AuditEntry, AuditLog, AuditQuery
from governance.db import Database

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


@pytest.fixture
def log(database: Database) -> AuditLog:
    audit = AuditLog(database, KEY)
    audit.append([entry(i) for i in range(1, 11)])
    return audit


def run_sql(database: Database, sql: str, **params: object) -> None:
    with database.engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def test_an_untouched_chain_verifies(log: AuditLog) -> None:
    result = log.verify()
    assert result.ok, result
    assert result.checked == 10


def test_appends_continue_the_chain(log: AuditLog) -> None:
    assert log.append([entry(11), entry(12)]) == [11, 12]
    assert log.verify().checked == 12


def test_an_edited_record_is_named(log: AuditLog, database: Database) -> None:
    run_sql(database, "UPDATE decision_log SET decision = 'deny' WHERE seq = 4")
    result = log.verify()
    assert not result.ok
    assert result.first_broken_seq == 4
    assert "edited" in result.problem


def test_an_edited_payload_is_named(log: AuditLog, database: Database) -> None:
    run_sql(database, "UPDATE decision_log SET payload = '{}' WHERE seq = 7")
    assert log.verify().first_broken_seq == 7


def test_rehashing_an_edit_without_the_key_is_still_caught(
    log: AuditLog, database: Database
) -> None:
    forged = hashlib.sha256(b"anything").hexdigest()
    run_sql(database, "UPDATE decision_log SET reason = 'ok', hash = :h WHERE seq = 2", h=forged)
    result = log.verify()
    assert result.first_broken_seq == 2


def test_a_deleted_record_is_named(log: AuditLog, database: Database) -> None:
    run_sql(database, "DELETE FROM decision_log WHERE seq = 5")
    result = log.verify()
    assert not result.ok
    assert result.first_broken_seq == 5
    assert "missing" in result.problem


def test_reordered_records_are_caught(log: AuditLog, database: Database) -> None:
    # swap records 3 and 6 by renumbering them
    run_sql(database, "UPDATE decision_log SET seq = 1000 WHERE seq = 3")
    run_sql(database, "UPDATE decision_log SET seq = 3 WHERE seq = 6")
    run_sql(database, "UPDATE decision_log SET seq = 6 WHERE seq = 1000")
    result = log.verify()
    assert not result.ok
    assert result.first_broken_seq == 3


def test_a_truncated_tail_is_caught(log: AuditLog, database: Database) -> None:
    run_sql(database, "DELETE FROM decision_log WHERE seq >= 9")
    result = log.verify()
    assert not result.ok
    assert result.first_broken_seq == 9
    assert "head" in result.problem


def test_a_different_key_does_not_verify(log: AuditLog, database: Database) -> None:
    assert not AuditLog(database, b"another key").verify().ok


def test_concurrent_writers_build_one_chain(database: Database) -> None:
    audit = AuditLog(database, KEY)
    errors: list[BaseException] = []

    def writer(base: int) -> None:
        try:
            for i in range(15):
                audit.append([entry(base + i)])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(1000 * (t + 1),)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    result = audit.verify()
    assert result.ok, result
    assert result.checked == 60


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
    bobs = audit.query(AuditQuery(subject="user:bob", limit=100))
    assert [r.seq for r in bobs] == [3, 6, 9, 12, 15, 18]
    denied_bob = audit.query(AuditQuery(subject="user:bob", decision="deny"))
    assert [r.seq for r in denied_bob] == [3, 9, 15]
    page1 = audit.query(AuditQuery(limit=7))
    page2 = audit.query(AuditQuery(limit=7, after_seq=page1[-1].seq))
    assert [r.seq for r in page1] == list(range(1, 8))
    assert [r.seq for r in page2] == list(range(8, 15))
    start = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    window = audit.query(
        AuditQuery(since=start + timedelta(seconds=5), until=start + timedelta(seconds=8))
    )
    assert [r.seq for r in window] == [5, 6, 7]
