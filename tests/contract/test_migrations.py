"""Models and migrations never drift, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from governance.audit import AuditEntry, AuditLog
from governance.db import create_database
from governance.schema import drift, upgrade
from tests.conftest import POSTGRES_URL, missing_service


def test_autogenerate_finds_nothing(database_url: str) -> None:
    assert drift(database_url) == []


def test_upgrade_is_idempotent(database_url: str) -> None:
    upgrade(database_url)
    assert drift(database_url) == []


# ---- the single-chain trail of before migration 0006 migrates and still verifies ---------------


KEY = b"migration-test-key"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    if not POSTGRES_URL:
        missing_service("PostgreSQL", "set GOVERNANCE_TEST_POSTGRES_URL")
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"gov_mig_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _old_chain(url: str, n: int) -> None:
    """Records as the single-chain log wrote them: hash = HMAC(key, prev ‖ canonical fields),
    written here from that definition, not with the service's code."""
    engine = sa.create_engine(url)
    prev = "0" * 64
    start = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    with engine.begin() as conn:
        for seq in range(1, n + 1):
            at = start + timedelta(minutes=seq)
            fields = {
                "seq": seq,
                "decision_id": str(uuid.UUID(int=seq)),
                "kind": "decision",
                "recorded_at": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "caller": "old-service",
                "subject": "user:alice",
                "action": "read",
                "dataset": "crm/customers",
                "purpose": "analytics",
                "decision": "allow",
                "reason": f"old reason {seq}",
                "policy_version": "p" * 64,
                "payload": json.dumps({"n": seq}),
            }
            text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            digest = hmac.new(KEY, prev.encode() + b"\n" + text.encode(), hashlib.sha256)
            row = {**fields, "recorded_at": at, "prev_hash": prev, "hash": digest.hexdigest()}
            conn.execute(
                sa.text(
                    "INSERT INTO decision_log (seq, decision_id, kind, recorded_at, caller, "
                    "subject, action, dataset, purpose, decision, reason, policy_version, payload, "
                    "prev_hash, hash) VALUES (:seq, :decision_id, :kind, :recorded_at, :caller, "
                    ":subject, :action, :dataset, :purpose, :decision, :reason, :policy_version, "
                    ":payload, :prev_hash, :hash)"
                ),
                row,
            )
            prev = row["hash"]
        conn.execute(
            sa.text("INSERT INTO audit_head (id, seq, hash) VALUES (1, :n, :h)"),
            {"n": n, "h": prev},
        )
    engine.dispose()


def test_a_single_chain_trail_migrates_and_keeps_verifying(empty_url: str) -> None:
    upgrade(empty_url, "0005")
    _old_chain(empty_url, 12)
    upgrade(empty_url)
    assert drift(empty_url) == []
    db = create_database(empty_url)
    try:
        audit = AuditLog(db, KEY)
        before = audit.verify()
        assert before.ok, before
        assert before.checked == 12
        assert before.content_checked
        # the first writer after the migration continues chain "main" with format 2 records
        audit.append(
            [
                AuditEntry(
                    decision_id=str(uuid.uuid4()),
                    recorded_at=datetime.now(UTC),
                    subject="user:bob",
                    action="read",
                    dataset="crm/customers",
                    purpose="analytics",
                    decision="deny",
                    reason="new",
                    policy_version="q" * 64,
                    payload={},
                )
            ]
        )
        after = audit.verify()
        assert after.ok, after
        assert after.checked == 13
        assert audit.chain == "main"
        # an old record edited after the migration is still caught (with the key)
        with db.engine.begin() as conn:
            conn.execute(sa.text("UPDATE decision_log SET reason = 'x' WHERE chain_seq = 5"))
        broken = audit.verify()
        assert not broken.ok
        assert broken.broken_chain_seq == 5
    finally:
        db.dispose()
