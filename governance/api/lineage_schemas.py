"""The lineage API's contract: what its reads answer (Marquez's shapes) and what ingest takes.

The response models document the bodies that ``lineage.queries`` builds. Routes declare them as
their 200 response and send the body as built: the graph answers are the hot path of a lineage
read, and validating a depth-20 graph a second time on the way out would cost more than building
it. The OpenAPI contract test (schemathesis, every role) checks every answer against these
models, so a drift between the two fails the suite.

The request body of ``POST /api/v1/lineage`` is the OpenLineage spec itself: the vendored
``OpenLineage.json`` and facet schemas, with each known facet key bound to its facet schema,
which is how ``lineage.events.validate_event`` checks them.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lineage.schemas import SCHEMA_DIR, SPEC_ID

# ---- node ids ------------------------------------------------------------------------------------

# Marquez's node ids: a kind, then namespace and name (and field) separated by ':' (or '#').
# Names may hold more colons (URIs); the parser splits them as Marquez does.
GRAPH_NODE = r"^(dataset|job):.*[:#].*$"
DATASET_OR_FIELD_NODE = r"^(dataset:.*[:#].*|datasetField:.*[:#].*[:#].*)$"
COLUMN_NODE = r"^(dataset:.*[:#].*|job:.*[:#].*|datasetField:.*[:#].*[:#].*)$"
FIELD_NODE = r"^datasetField:.*[:#].*[:#].*$"


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- Marquez's shapes ----------------------------------------------------------------------------


class DatasetId(_Out):
    namespace: str
    name: str


class DatasetField(_Out):
    name: str
    type: str | None
    tags: list[str]
    description: str | None


class Dataset(_Out):
    id: DatasetId
    type: str
    name: str
    physicalName: str
    createdAt: datetime | None
    updatedAt: datetime | None
    namespace: str
    sourceName: str
    fields: list[DatasetField]
    tags: list[str]
    lastModifiedAt: datetime | None
    lastLifecycleState: str | None
    description: str | None
    datasetType: str | None
    facets: dict[str, Any]
    deleted: bool


class DatasetVersionRef(_Out):
    datasetVersionId: DatasetId


class Run(_Out):
    id: str
    createdAt: datetime | None
    updatedAt: datetime | None
    nominalStartTime: datetime | None
    nominalEndTime: datetime | None
    state: str | None
    startedAt: datetime | None
    endedAt: datetime | None
    durationMs: int | None
    args: dict[str, str]
    jobVersion: dict[str, Any] | None
    inputDatasetVersions: list[DatasetVersionRef]
    outputDatasetVersions: list[DatasetVersionRef]
    parentRunId: str | None
    facets: dict[str, Any]


class Job(_Out):
    id: DatasetId
    type: str
    name: str
    simpleName: str
    parentJobName: str | None
    createdAt: datetime | None
    updatedAt: datetime | None
    namespace: str
    inputs: list[DatasetId]
    outputs: list[DatasetId]
    location: str | None
    description: str | None
    jobType: str | None
    latestRun: Run | None
    facets: dict[str, Any]


class Edge(_Out):
    origin: str
    destination: str


class LineageNode(_Out):
    id: str
    type: Literal["DATASET", "JOB"]
    data: Dataset | Job | None
    inEdges: list[Edge]
    outEdges: list[Edge]


class LineageGraph(_Out):
    graph: list[LineageNode]


class InputField(_Out):
    namespace: str
    dataset: str
    datasetVersion: str | None
    field: str
    transformationDescription: str | None
    transformationType: str | None
    transformationSubtype: str | None
    masking: bool


class ColumnData(_Out):
    namespace: str
    dataset: str
    datasetVersion: str | None
    field: str
    fieldType: str | None
    transformationDescription: str | None
    transformationType: str | None
    inputFields: list[InputField]


class ColumnNode(_Out):
    id: str
    type: Literal["DATASET_FIELD"]
    data: ColumnData
    inEdges: list[Edge]
    outEdges: list[Edge]


class ColumnGraph(_Out):
    graph: list[ColumnNode]


class Namespace(_Out):
    name: str
    createdAt: datetime | None
    updatedAt: datetime | None
    ownerName: str
    description: str | None
    isHidden: bool


class Namespaces(_Out):
    namespaces: list[Namespace]


class Datasets(_Out):
    totalCount: int
    datasets: list[Dataset]


class Jobs(_Out):
    totalCount: int
    jobs: list[Job]


class Runs(_Out):
    totalCount: int
    runs: list[Run]


# ---- beyond Marquez ------------------------------------------------------------------------------


class Accepted(_Out):
    accepted: int = Field(description="Events made durable by this call.")


class Classification(_Out):
    piiType: str
    source: str = Field(description="scan, steward, producer, or lineage when inherited")
    confidence: float
    at: datetime | None
    origin: str | None = Field(None, description="The field it was inherited from.")
    originSource: str | None = None
    path: list[str] | None = Field(None, description="Fields from the origin to this one.")


class Classifications(_Out):
    field: str
    classifications: list[Classification]


class Reach(_Out):
    field: str
    dataset: DatasetId
    depth: int
    piiTypes: list[str]
    carriedFrom: str
    path: list[str]


class Transformation(_Out):
    type: str | None
    subtype: str | None
    description: str | None


class Stop(_Out):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    field: str
    from_: str = Field(alias="from")
    reason: str
    transformation: Transformation


class PiiFlow(_Out):
    field: str
    piiTypes: list[str]
    classifications: list[Classification]
    reaches: list[Reach]
    stopped: list[Stop]


class ModelRef(_Out):
    kind: Literal["dataset", "job"]
    id: str
    type: str | None


class Impact(_Out):
    node: str
    datasets: list[str]
    jobs: list[str]
    models: list[ModelRef]
    fields: list[str] | None = Field(None, description="Reached fields, from a datasetField.")


class ClassificationOut(_Out):
    field: str
    piiType: str
    source: Literal["steward"]
    at: datetime | None


class OutboxStatus(_Out):
    backend: str
    outboxDepth: int
    dead: int
    processed: int
    lastError: str | None
    lastErrorAt: datetime | None
    lastSuccessAt: datetime | None
    consecutiveFailures: int
    drainRunning: bool


def ok(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route that sends ``model``'s shape without re-validating it."""
    return {200: {"model": model, "description": "OK"}}


# ---- the OpenLineage request body ----------------------------------------------------------------

_PREFIX = "OpenLineage"
_CATEGORIES = {
    "InputDatasetFacet": "inputFacets",
    "OutputDatasetFacet": "outputFacets",
    "DatasetFacet": "dataset",
    "JobFacet": "job",
    "RunFacet": "run",
}
# where each category's facets sit in the spec's $defs: (definition, property)
_PLACES = {
    "run": [("Run", "facets")],
    "job": [("Job", "facets")],
    "dataset": [("Dataset", "facets")],  # StaticDataset, InputDataset and OutputDataset extend it
    "inputFacets": [("InputDataset", "inputFacets")],
    "outputFacets": [("OutputDataset", "outputFacets")],
}
# the spec's base definition of each category's facets
_BASES = {
    "run": "RunFacet",
    "job": "JobFacet",
    "dataset": "DatasetFacet",
    "inputFacets": "InputDatasetFacet",
    "outputFacets": "OutputDatasetFacet",
}


def _deleted(category: str) -> dict[str, Any]:
    """A facet the producer marks removed: a base facet of its place, nothing else checked."""
    return {
        "allOf": [{"$ref": f"#/components/schemas/{_PREFIX}{_BASES[category]}"}],
        "properties": {"_deleted": {"const": True}},
        "required": ["_deleted"],
    }


def _rewrite(node: Any) -> Any:
    """Point every reference (local, or to the spec by its URL) at the OpenAPI components."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                target = value.split("#/$defs/", 1)[1]
                out[key] = f"#/components/schemas/{_PREFIX}{target}"
            elif key not in ("$id", "$schema"):
                out[key] = _rewrite(value)
        return out
    if isinstance(node, list):
        return [_rewrite(v) for v in node]
    return node


@lru_cache(maxsize=1)
def openlineage_components() -> dict[str, dict[str, Any]]:
    """The spec's definitions and every vendored facet's, as OpenAPI component schemas."""
    spec = json.loads((SCHEMA_DIR / "OpenLineage.json").read_text())
    assert spec["$id"] == SPEC_ID
    components = {f"{_PREFIX}{k}": _rewrite(v) for k, v in spec["$defs"].items()}
    facets: dict[str, dict[str, Any]] = {c: {} for c in _PLACES}
    shared: dict[str, Any] = {}  # facets that may sit anywhere, e.g. LineageFacet
    for path in sorted((SCHEMA_DIR / "facets").glob("*.json")):
        doc = json.loads(path.read_text())
        for name, schema in doc.get("$defs", {}).items():
            components[f"{_PREFIX}{name}"] = _rewrite(schema)
        stem = path.stem
        category = next((c for suffix, c in _CATEGORIES.items() if stem.endswith(suffix)), None)
        for key, schema in doc.get("properties", {}).items():
            (facets[category] if category else shared)[key] = _rewrite(schema)
    for category, places in _PLACES.items():
        known = {
            key: {"anyOf": [schema, _deleted(category)]}
            for key, schema in {**shared, **facets[category]}.items()
        }
        for definition, prop in places:
            holder = components[f"{_PREFIX}{definition}"]
            target = _facets_object(holder, prop)
            target["properties"] = dict(sorted(known.items()))
    components[f"{_PREFIX}Event"] = {
        "description": "One OpenLineage event (spec 2-0-2), facets checked by their key.",
        "oneOf": [{"$ref": f"#/components/schemas/{_PREFIX}{k}"} for k in _EVENTS],
    }
    return components


_EVENTS = ("RunEvent", "DatasetEvent", "JobEvent")


def _facets_object(holder: dict[str, Any], prop: str) -> dict[str, Any]:
    """The object schema of a definition's facets property (the spec wraps some in allOf)."""
    candidates = [holder, *holder.get("allOf", [])]
    for candidate in candidates:
        if prop in candidate.get("properties", {}):
            schema: dict[str, Any] = candidate["properties"][prop]
            found: dict[str, Any] = schema["anyOf"][0] if "anyOf" in schema else schema
            return found
    raise KeyError(f"no {prop} in the OpenLineage definition")


def event_body() -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{_PREFIX}Event"}


def batch_body() -> dict[str, Any]:
    return {
        "oneOf": [
            {"type": "array", "items": event_body(), "minItems": 1},
            {
                "type": "object",
                "properties": {"events": {"type": "array", "items": event_body(), "minItems": 1}},
                "required": ["events"],
            },
        ]
    }
