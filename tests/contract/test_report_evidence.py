"""Report evidence read grouped by the database equals the same evidence counted in Python.

The oracle is ``usage_naive`` (every record read and parsed one by one) folded here to the
grouping a report asks for; it shares no SQL with ``decision_usage``.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from governance.audit import AuditEntry, AuditLog
from governance.db import create_database
from governance.reports.evidence import GROUPS, decision_usage, usage_naive

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
