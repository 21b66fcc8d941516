"""Marquez-compatible node ids and the run-state rules of the batch builder."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.api.lineage_schemas import (
    COLUMN_NODE,
    DATASET_OR_FIELD_NODE,
    FIELD_NODE,
    GRAPH_NODE,
)
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


def test_hash_separators_split_leftmost() -> None:
    # Marquez accepts '#' as a separator; with no URI-safe colon left, the leftmost ones split
    assert parse_node_id("dataset:ns#a#b") == NodeId("dataset", "ns", "a#b")
    assert parse_node_id("datasetField:n#d#f#g") == NodeId("datasetField", "n", "d", "f#g")


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


@pytest.mark.parametrize(
    ("pattern", "kinds"),
    [
        (GRAPH_NODE, {"dataset", "job"}),
        (COLUMN_NODE, {"dataset", "job", "datasetField"}),
        (DATASET_OR_FIELD_NODE, {"dataset", "datasetField"}),
        (FIELD_NODE, {"datasetField"}),
    ],
)
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_every_id_the_api_documents_parses(
    pattern: str, kinds: set[str], data: st.DataObject
) -> None:
    """The OpenAPI document promises these patterns: a matching id never fails to parse (a
    '#' where Marquez's URI rule finds too few colons once did), and keeps its kind."""
    text = data.draw(st.from_regex(pattern, fullmatch=True))
    node = parse_node_id(text)
    assert node.kind in kinds
    assert text.startswith(f"{node.kind}:")
    assert node.namespace in text
    assert node.name in text
