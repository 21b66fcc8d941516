"""A record that cannot be written fails alone: the rest of its group commit is kept."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import Future
from datetime import UTC, datetime

from governance.audit import AuditEntry, AuditLog
from governance.db import Database
from governance.recorder import DecisionRecorder, RecordingFailed


def _entry(subject: str) -> AuditEntry:
    return AuditEntry(
        decision_id=str(uuid.uuid4()),
        recorded_at=datetime.now(UTC),
        subject=subject,
        action="read",
        dataset="crm/customers",
        purpose="analytics",
        decision="allow",
        reason="test",
        policy_version="v",
        payload={"request": {"subject": subject}},
    )


def test_poisoned_records_fail_alone_under_concurrency(database: Database) -> None:
    audit = AuditLog(database, b"k" * 32)
    # a long window gathers good and poisoned work into the same groups
    recorder = DecisionRecorder(database, audit, window_ms=20)
    good: list[Future[list[int]]] = []
    bad: list[Future[list[int]]] = []
    lock = threading.Lock()

    def submit(subject: str, into: list[Future[list[int]]]) -> None:
        for _ in range(25):
            future = recorder.submit([_entry(subject)])
            with lock:
                into.append(future)

    # a lone surrogate cannot be encoded; NUL cannot be stored in PostgreSQL text (SQLite
    # stores it, so there it is a good record)
    poison = "user:\ud800"
    threads = [threading.Thread(target=submit, args=(f"user:u{i}", good)) for i in range(6)]
    threads.append(threading.Thread(target=submit, args=(poison, bad)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        good_seqs = [f.result(timeout=60) for f in good]
        for f in bad:
            error = f.exception(timeout=60)
            assert isinstance(error, RecordingFailed)
            assert error.incident
    finally:
        recorder.close()
    assert len(good_seqs) == 150
    assert audit.count() == 150
    assert audit.verify().ok
