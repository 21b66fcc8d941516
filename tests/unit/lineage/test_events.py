"""OpenLineage validation (offline, with field paths) and parsing."""

from __future__ import annotations

import copy
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from lineage.events import parse_event, validate_event
from tests.lineage_events import dataset, run_event

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "fixtures" / "openlineage").glob("*.json"))
RUN = "3f5e83fa-3480-44ff-99c5-ff943904e5e8"


def place(name: str, facets: dict[str, Any]) -> dict[str, Any]:
    """An event carrying an example facet object where the spec puts it."""
    event = run_event(("ns", "job"), RUN, "COMPLETE")
    stem = name.split("__")[0]
    if stem.endswith("InputDatasetFacet"):
        event["inputs"] = [{"namespace": "n", "name": "d", "inputFacets": facets}]
    elif stem.endswith("OutputDatasetFacet"):
        event["outputs"] = [{"namespace": "n", "name": "d", "outputFacets": facets}]
    elif stem.endswith("DatasetFacet"):
        event["outputs"] = [{"namespace": "n", "name": "d", "facets": facets}]
    elif stem.endswith("RunFacet"):
        event["run"]["facets"] = facets
    else:
        event["job"]["facets"] = facets
    return event


def test_there_are_spec_examples() -> None:
    assert len(EXAMPLES) >= 40


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_spec_example_is_valid(path: Path) -> None:
    doc = json.loads(path.read_text())
    event = doc if "eventTime" in doc else place(path.name, doc)
    assert validate_event(event) == []


def test_validation_never_touches_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("network access during validation")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    assert validate_event(run_event(("a", "b"), RUN)) == []


def problems(event: Any) -> list[tuple[tuple[str | int, ...], str]]:
    return [(p.loc, p.msg) for p in validate_event(event, ("body",))]


def test_problems_name_the_field() -> None:
    event = run_event(("a", "b"), RUN)
    del event["run"]["runId"]
    assert (("body", "run"), "'runId' is a required property") in problems(event)
    bad = run_event(("a", "b"), "not-a-uuid")
    assert (("body", "run", "runId"), "'not-a-uuid' is not a 'uuid'") in problems(bad)
    wrong_type = run_event(("a", "b"), RUN, event_type="FINISHED")
    assert [p[0] for p in problems(wrong_type)] == [("body", "eventType")]


def test_facet_problems_have_deep_paths() -> None:
    event = run_event(
        ("a", "b"),
        RUN,
        outputs=[dataset("n", "d", lineage={"email": [("crm", "customers", "email")]})],
    )
    del event["outputs"][0]["facets"]["columnLineage"]["fields"]["email"]["inputFields"][0]["name"]
    assert problems(event) == [
        (
            ("body", "outputs", 0, "facets", "columnLineage", "fields", "email", "inputFields", 0),
            "'name' is a required property",
        )
    ]


def test_our_classification_facet_is_checked() -> None:
    event = run_event(
        ("a", "b"), RUN, outputs=[dataset("n", "d", classifications={"c": ["EMAIL_ADDRESS"]})]
    )
    assert problems(event) == []
    broken = copy.deepcopy(event)
    broken["outputs"][0]["facets"]["governance_classification"]["fields"]["c"][0]["piiType"] = (
        "email"
    )
    assert [p[0] for p in problems(broken)] == [
        ("body", "outputs", 0, "facets", "governance_classification", "fields", "c", 0, "piiType")
    ]


@pytest.mark.parametrize("value", [[], "text", 42, {"eventTime": "x"}])
def test_not_an_event(value: Any) -> None:
    assert problems(value)[0][0] == ("body",)


def test_times_need_an_offset() -> None:
    event = run_event(("a", "b"), RUN, time="2026-11-28T10:00:00")
    assert problems(event) == [
        (("body", "eventTime"), "must be an ISO 8601 date-time with an offset")
    ]


def test_parsing() -> None:
    event = run_event(
        ("etl", "job"),
        RUN.upper(),
        "START",
        "2026-11-28T10:00:00+02:00",
        inputs=[dataset("crm", "customers", fields=["email"])],
        outputs=[
            dataset(
                "ml",
                "f",
                lineage={
                    "h": [
                        (
                            "crm",
                            "customers",
                            "email",
                            {"type": "DIRECT", "subtype": "TRANSFORMATION", "masking": True},
                        )
                    ],
                    "e": [("crm", "customers", "email")],
                },
            )
        ],
        parent="9b3a2f52-4c9f-4a8e-9bd2-5b0b2c1a7d11",
    )
    event["outputs"][0]["facets"]["schema"] = {
        "_producer": "p",
        "_schemaURL": "s",
        "fields": [
            {"name": "addr", "type": "struct", "fields": [{"name": "city", "type": "string"}]}
        ],
    }
    parsed = parse_event(event)
    assert parsed.run_id == RUN  # normalized to lower case
    assert parsed.event_time.isoformat() == "2026-11-28T08:00:00+00:00"
    assert parsed.state == "RUNNING"
    assert parsed.parent_run_id == "9b3a2f52-4c9f-4a8e-9bd2-5b0b2c1a7d11"
    out = parsed.outputs[0]
    assert [f.name for f in out.fields] == ["addr", "addr.city", "h", "e"]
    masks = {(lin.output, lin.masking, lin.carries_values) for lin in out.lineage}
    assert masks == {("h", True, True), ("e", False, True)}


def test_legacy_masked_transformation_type() -> None:
    event = run_event(
        ("a", "b"), RUN, outputs=[dataset("n", "d", lineage={"x": [("s", "t", "y")]})]
    )
    event["outputs"][0]["facets"]["columnLineage"]["fields"]["x"]["transformationType"] = "MASKED"
    assert parse_event(event).outputs[0].lineage[0].masking
