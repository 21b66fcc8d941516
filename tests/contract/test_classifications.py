"""Column classifications on SQLite and PostgreSQL: suggestions, reviews that stick, snapshot."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from governance.db import create_database
from governance.errors import InvalidInput, NotFound
from governance.pii.classifications import ClassificationStore, Suggestion
from tests.conftest import _truncate_all


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_and_events(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[tuple[ClassificationStore, list[dict[str, Any]]]]:
    if request.param == "sqlite":
        path = tmp_path / "c.db"
        shutil.copy(sqlite_template, path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_database")
        _truncate_all(url)
    db = create_database(url)
    events: list[dict[str, Any]] = []
    yield ClassificationStore(db, events=events.extend), events
    db.dispose()


def statuses(store: ClassificationStore, dataset: str) -> dict[tuple[str, str], str]:
    return {(c.column, c.pii_type): c.status for c in store.list(dataset=dataset)}


def test_scan_suggests_steward_decides_and_the_choice_sticks(
    store_and_events: tuple[ClassificationStore, list[dict[str, Any]]],
) -> None:
    store, events = store_and_events
    ds = "crm/leads"
    store.record_scan(
        ds,
        [
            Suggestion("email", ("EMAIL_ADDRESS",), 0.98, {"matched": 98}),
            Suggestion("nickname", ("PERSON",), 0.7),
            Suggestion("score", (), 0.99),
        ],
    )
    assert statuses(store, ds) == {
        ("email", "EMAIL_ADDRESS"): "suggested",
        ("nickname", "PERSON"): "suggested",
        ("score", "NONE"): "suggested",
    }
    assert store.confirmed(ds) == {}  # suggestions never reach decisions
    store.review(ds, "email", "EMAIL_ADDRESS", status="confirmed", by="frank")
    store.review(ds, "nickname", "PERSON", status="rejected", by="frank")
    assert store.confirmed(ds) == {"email": "EMAIL_ADDRESS"}
    # the next scan: evidence refreshed, statuses kept, nothing resurrected
    store.record_scan(
        ds,
        [
            Suggestion("email", ("EMAIL_ADDRESS",), 0.91, {"matched": 91}),
            Suggestion("nickname", ("PERSON",), 0.75),
            Suggestion("score", ("PHONE_NUMBER",), 0.65),  # the NONE suggestion is withdrawn
        ],
    )
    assert statuses(store, ds) == {
        ("email", "EMAIL_ADDRESS"): "confirmed",
        ("nickname", "PERSON"): "rejected",
        ("score", "PHONE_NUMBER"): "suggested",
    }
    email = next(c for c in store.list(dataset=ds) if c.column == "email")
    assert email.confidence == pytest.approx(0.91)
    assert email.evidence == {"matched": 91}
    assert email.reviewed_by == "frank"
    # lineage hears of scan findings and of confirmations, never of NONE or rejections
    facets = [e["dataset"]["facets"]["governance_classification"]["fields"] for e in events]
    assert {"email", "nickname"} <= set(facets[0])
    assert "score" not in facets[0]
    assert facets[1] == {
        "email": [{"piiType": "EMAIL_ADDRESS", "confidence": 1.0, "source": "steward"}]
    }


def test_a_steward_may_add_a_type_nobody_suggested_and_the_latest_confirmation_wins(
    store_and_events: tuple[ClassificationStore, list[dict[str, Any]]],
) -> None:
    store, _ = store_and_events
    ds = "app/events"
    store.review(ds, "payload", "FREE_TEXT", status="confirmed", by="frank")
    assert store.confirmed(ds) == {"payload": "FREE_TEXT"}
    store.review(ds, "payload", "IP_ADDRESS", status="confirmed", by="frank")
    assert store.confirmed(ds) == {"payload": "IP_ADDRESS"}
    with pytest.raises(NotFound):
        store.review(ds, "payload", "PERSON", status="rejected", by="frank")
    with pytest.raises(InvalidInput):
        store.review(ds, "payload", "PERSON", status="maybe", by="frank")
    with pytest.raises(InvalidInput):
        store.review(
            ds,
            "payload",
            "NOT_A_TYPE",
            status="confirmed",
            by="f",
            known_types=frozenset({"PERSON"}),
        )


def test_snapshot_refresh_tells_listeners_once_per_change(
    store_and_events: tuple[ClassificationStore, list[dict[str, Any]]],
) -> None:
    store, _ = store_and_events
    calls: list[int] = []
    store.on_change(lambda: calls.append(1))
    store.refresh()
    assert store.refresh() is False  # nothing changed since
    before = len(calls)
    store.review("crm/x", "c", "PERSON", status="confirmed", by="f")  # refreshes itself
    assert len(calls) == before + 1
    assert store.refresh() is False


def test_producer_claims_are_suggestions_that_never_override_a_review(
    store_and_events: tuple[ClassificationStore, list[dict[str, Any]]],
) -> None:
    from governance.decisions import PRODUCER
    from governance.pii.classifications import producer_claims

    store, events = store_and_events
    store.record_scan("crm/leads", [Suggestion("owner", ["PERSON"], 0.9, {})])
    store.review("crm/leads", "owner", "PERSON", status="rejected", by="frank")
    theirs = {
        "producer": "https://github.com/apache/airflow",
        "inputs": [],
        "outputs": [
            {
                "namespace": "crm",
                "name": "leads",
                "facets": {
                    "governance_classification": {
                        "fields": {
                            "owner": [{"piiType": "PERSON", "confidence": 0.8}],
                            "contact": [{"piiType": "EMAIL_ADDRESS"}],
                        }
                    }
                },
            }
        ],
    }
    ours = {**theirs, "producer": PRODUCER}
    claims = producer_claims([theirs, ours, theirs])
    assert len(claims) == 4  # ours skipped; duplicates collapse on write
    emitted = len(events)
    assert store.record_lineage(claims) == 1  # only the email is new
    assert statuses(store, "crm/leads") == {
        ("owner", "PERSON"): "rejected",  # the steward's word stands
        ("contact", "EMAIL_ADDRESS"): "suggested",
    }
    [contact] = [c for c in store.list(dataset="crm/leads") if c.column == "contact"]
    assert contact.source == "lineage"
    assert len(events) == emitted  # nothing sent back to lineage
    assert store.record_lineage(claims) == 0  # idempotent
