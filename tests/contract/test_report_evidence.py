"""Report evidence read grouped by the database equals the same evidence counted in Python.

The oracle is ``usage_naive`` (every record read and parsed one by one) folded here to the
grouping a report asks for; it shares no SQL with ``decision_usage``.
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from governance.audit import AuditEntry, AuditLog
from governance.db import create_database
from governance.reports.evidence import GROUPS, decision_usage, usage_naive
from governance.reports.facts import FactIndexer

DATASETS = ["crm/customers", "app/events", "shop/orders"]
PURPOSES = ["analytics", "marketing"]
SHAPES = [
    [{"column": "email", "pii_type": "EMAIL_ADDRESS", "action": "hash"}],
    [
        {"column": "email", "pii_type": "EMAIL_ADDRESS", "action": "drop"},
        {"column": "name", "pii_type": "PERSON", "action": "mask"},
    ],
    [],
]


def _fill(url: str, n: int) -> None:
    rng = random.Random(7)
    db = create_database(url)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    entries = []
    for i in range(n):
        allowed = rng.random() < 0.7
        entries.append(
            AuditEntry(
                decision_id=str(uuid.UUID(int=rng.getrandbits(128))),
                recorded_at=start + timedelta(minutes=i),
                subject=rng.choice(["user:ann", "user:bob", "service:etl"]),
                action="read",
                dataset=rng.choice(DATASETS),
                purpose=rng.choice(PURPOSES),
                decision="allow" if allowed else "deny",
                reason="test",
                policy_version=rng.choice(["v1", "v2"]),
                payload={
                    "request": {},
                    "obligations": rng.choice(SHAPES) if allowed else [],
                    "row_filter": None,
                    "matched_rule": None,
                    "consent_records": [],
                },
            )
        )
    AuditLog(db, b"k").append(entries)
    db.dispose()


def _key(u: object, by: tuple[str, ...]) -> tuple[object, ...]:
    return tuple(
        json.dumps(getattr(u, name), sort_keys=True) if name == "obligations" else getattr(u, name)
        for name in by
    )


@pytest.mark.parametrize(
    "by",
    [
        GROUPS,
        ("dataset", "purpose", "decision", "obligations"),
        ("purpose", "subject", "decision"),
        ("dataset",),
    ],
)
def test_grouped_usage_equals_a_python_count(database_url: str, by: tuple[str, ...]) -> None:
    _fill(database_url, 400)
    db = create_database(database_url)
    try:
        grouped = decision_usage(db, by=by)
        naive = usage_naive(db, DATASETS)
    finally:
        db.dispose()
    expected: Counter[tuple[object, ...]] = Counter()
    for u in naive:
        expected[_key(u, by)] += u.count
    got = Counter({_key(u, by): u.count for u in grouped})
    assert sum(expected.values()) == 400
    assert got == expected
    left_out = set(GROUPS) - set(by)
    for u in grouped:  # what was not grouped by is empty, never a value from one record
        for name in left_out:
            assert getattr(u, name) in ("", [])


def test_grouping_by_an_unknown_field_is_refused(database_url: str) -> None:
    db = create_database(database_url)
    try:
        with pytest.raises(ValueError, match="cannot group"):
            decision_usage(db, by=("payload",))
    finally:
        db.dispose()


def _entry(rng: random.Random, at: datetime, kind: str = "decision") -> AuditEntry:
    allowed = rng.random() < 0.7
    consent = rng.random()
    return AuditEntry(
        decision_id=str(uuid.UUID(int=rng.getrandbits(128))),
        recorded_at=at,
        subject=rng.choice(["user:ann", "service:etl"]),
        action="read",
        dataset=rng.choice(DATASETS),
        purpose=rng.choice(PURPOSES),
        decision="allow" if allowed else "deny",
        reason="test",
        policy_version="v1",
        kind=kind,
        payload={
            "request": {},
            "obligations": rng.choice(SHAPES) if allowed else [],
            # a third cite a consent record, a third carry a consent row filter
            "row_filter": {"op": "subject_in", "column": "id"} if consent > 2 / 3 else None,
            "matched_rule": None,
            "consent_records": ["c-1"] if consent < 1 / 3 else [],
        },
    )


def test_facts_follow_the_trail_across_chains_and_catch_ups(database_url: str) -> None:
    """Records appended after a report, on a second chain, and indexed by two threads at once
    are each counted exactly once; consent evidence and the period are honoured."""
    rng = random.Random(11)
    db = create_database(database_url)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    minute = iter(range(10_000))
    expected_consent = 0

    def append(log: AuditLog, n: int, kind: str = "decision") -> None:
        nonlocal expected_consent
        entries = [_entry(rng, start + timedelta(minutes=next(minute)), kind) for _ in range(n)]
        if kind == "decision":
            expected_consent += sum(
                1 for e in entries if e.payload["consent_records"] or e.payload["row_filter"]
            )
        log.append(entries)

    def check(total: int) -> None:
        grouped = decision_usage(db)
        naive = usage_naive(db, DATASETS)
        assert sum(u.count for u in grouped) == sum(u.count for u in naive) == total
        assert Counter({_key(u, GROUPS): u.count for u in grouped}) == Counter(
            {_key(u, GROUPS): u.count for u in naive}
        )
        assert sum(u.with_consent for u in grouped) == expected_consent

    first, second = AuditLog(db, b"k"), AuditLog(db, b"k")
    try:
        append(first, 120)
        check(120)
        append(second, 80)
        append(first, 30, kind="privacy_request")  # not a decision: never counted
        append(first, 50)
        indexers = [FactIndexer(db, batch=7), FactIndexer(db, batch=11)]
        threads = [threading.Thread(target=i.catch_up) for i in indexers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        check(250)
        assert len({h.chain for h in first.heads()}) == 2  # the two logs wrote two chains
        since, until = start + timedelta(minutes=40), start + timedelta(minutes=170)
        in_period = decision_usage(db, since=since, until=until)
        naive_period = usage_naive(db, DATASETS, since=since, until=until)
        assert sum(u.count for u in in_period) == sum(u.count for u in naive_period) > 0
        assert FactIndexer(db).rebuild() == 280  # every record, decisions or not
        check(250)
    finally:
        first.release()
        second.release()
        db.dispose()
