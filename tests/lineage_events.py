"""Builders of OpenLineage events (plain dicts, as producers send them) for the tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lineage.events import LineageEvent, parse_event, validate_event

PRODUCER = "https://github.com/omnishop-data/tests"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


def facet(**fields: Any) -> dict[str, Any]:
    return {
        "_producer": PRODUCER,
        "_schemaURL": "https://openlineage.io/spec/facets/x.json",
        **fields,
    }


def dataset(
    namespace: str,
    name: str,
    *,
    fields: Sequence[str | tuple[str, str]] = (),
    lineage: Mapping[str, Iterable[tuple[str, str, str] | tuple[str, str, str, dict[str, Any]]]]
    | None = None,
    classifications: Mapping[str, Sequence[str]] | None = None,
    description: str | None = None,
    dataset_type: str | None = None,
) -> dict[str, Any]:
    """A dataset; ``lineage`` maps an output field to (ns, dataset, field[, transformation])."""
    facets: dict[str, Any] = {}
    if fields:
        facets["schema"] = facet(
            fields=[
                {"name": f, "type": "string"}
                if isinstance(f, str)
                else {"name": f[0], "type": f[1]}
                for f in fields
            ]
        )
    if lineage:
        facets["columnLineage"] = facet(
            fields={
                out: {
                    "inputFields": [
                        {
                            "namespace": src[0],
                            "name": src[1],
                            "field": src[2],
                            **({"transformations": [src[3]]} if len(src) > 3 else {}),  # type: ignore[misc]
                        }
                        for src in sources
                    ]
                }
                for out, sources in lineage.items()
            }
        )
    if classifications:
        facets["governance_classification"] = facet(
            fields={
                col: [{"piiType": t, "confidence": 0.9, "source": "scan"} for t in types]
                for col, types in classifications.items()
            }
        )
    if description:
        facets["documentation"] = facet(description=description)
    if dataset_type:
        facets["datasetType"] = facet(datasetType=dataset_type, subType="")
    out: dict[str, Any] = {"namespace": namespace, "name": name}
    if facets:
        out["facets"] = facets
    return out


def run_event(
    job: tuple[str, str],
    run_id: str,
    event_type: str = "COMPLETE",
    time: str = "2026-11-28T10:00:00Z",
    *,
    inputs: Sequence[dict[str, Any]] = (),
    outputs: Sequence[dict[str, Any]] = (),
    job_description: str | None = None,
    job_type: str | None = None,
    parent: str | None = None,
) -> dict[str, Any]:
    job_facets: dict[str, Any] = {}
    if job_description:
        job_facets["documentation"] = facet(description=job_description)
    if job_type:
        job_facets["jobType"] = facet(processingType="BATCH", integration="TEST", jobType=job_type)
    run: dict[str, Any] = {"runId": run_id}
    if parent:
        run["facets"] = {
            "parent": facet(run={"runId": parent}, job={"namespace": job[0], "name": "parent"})
        }
    return {
        "eventType": event_type,
        "eventTime": time,
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
        "run": run,
        "job": {
            "namespace": job[0],
            "name": job[1],
            **({"facets": job_facets} if job_facets else {}),
        },
        "inputs": list(inputs),
        "outputs": list(outputs),
    }


def parsed(*events: dict[str, Any]) -> list[LineageEvent]:
    out = []
    for event in events:
        problems = validate_event(event)
        assert not problems, problems
        out.append(parse_event(event))
    return out
