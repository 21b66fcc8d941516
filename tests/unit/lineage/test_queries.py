"""Marquez-compatible node ids and the run-state rules of the batch builder."""

from __future__ import annotations

import pytest

from governance.errors import InvalidInput
from lineage.queries import NodeId, parse_node_id
from lineage.store.batch import build_batch
from tests.lineage_events import parsed, run_event

RUN = "3f5e83fa-3480-44ff-99c5-ff943904e5e8"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dataset:crm:customers", NodeId("dataset", "crm", "customers")),
        ("job:etl:daily.load", NodeId("job", "etl", "daily.load")),
        (
            "dataset:postgres://db.internal:5432:public.orders",
            NodeId("dataset", "postgres://db.internal:5432", "public.orders"),
        ),
        ("datasetField:crm:customers:email", NodeId("datasetField", "crm", "customers", "email")),
        (
            "datasetField:s3://bucket:raw/events:user_id",
            NodeId("datasetField", "s3://bucket", "raw/events", "user_id"),
        ),
    ],
)
def test_node_ids_split_like_marquez(text: str, expected: NodeId) -> None:
    assert parse_node_id(text) == expected
    assert str(parse_node_id(text)) == text


@pytest.mark.parametrize("text", ["dataset:only", "table:a:b", "", "datasetField:a:b"])
def test_bad_node_ids(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_node_id(text)


@pytest.mark.parametrize(
    ("events", "state"),
    [
        ([("START", "10:00"), ("COMPLETE", "10:05")], "COMPLETED"),
        ([("COMPLETE", "10:05"), ("START", "10:00")], "COMPLETED"),
        ([("COMPLETE", "10:05"), ("RUNNING", "10:07")], "COMPLETED"),  # terminal states stick
        ([("START", "10:00"), ("FAIL", "10:03"), ("COMPLETE", "10:04")], "COMPLETED"),
        ([("START", "10:00"), ("OTHER", "10:09")], "RUNNING"),
        ([("OTHER", "10:09")], "NEW"),
        ([("ABORT", "10:05"), ("START", "10:00")], "ABORTED"),
    ],
)
def test_run_state(events: list[tuple[str, str]], state: str) -> None:
    batch = build_batch(
        parsed(*(run_event(("a", "b"), RUN, kind, f"2026-11-28T{t}:00Z") for kind, t in events))
    )
    assert batch.runs[RUN].state == state
