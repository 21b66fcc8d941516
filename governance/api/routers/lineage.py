"""Lineage: the OpenLineage endpoint producers post to, Marquez-compatible reads, and ours."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import unquote

import orjson
from fastapi import Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from governance.api import lineage_schemas as schemas
from governance.api.deps import LineageDep, ServicesDep, require
from governance.api.params import Depth, Limit, Offset
from governance.api.routing import api_router
from governance.callers import Caller
from governance.errors import InvalidInput
from governance.services import Services
from governance.timestamps import UtcDatetime
from lineage.events import field_key
from lineage.queries import iso, parse_node_id

log = logging.getLogger(__name__)
router = api_router(tags=["lineage"])
Writer = Annotated[Caller, Depends(require("lineage:write"))]
Reader = Annotated[Caller, Depends(require("lineage:read"))]
Classifier = Annotated[Caller, Depends(require("pii:classify"))]


# ---- ingest ------------------------------------------------------------------------------------


async def _body(request: Request, limit: int) -> Any:
    from lineage.outbox import decode_body

    raw = await request.body()
    return decode_body(raw, request.headers.get("content-encoding"), limit)


async def _note_classifications(services: Services, events: list[Any]) -> None:
    """Producers' ``governance_classification`` facets become suggestions for stewards (source
    ``lineage``). The events are durable already: a failure here is logged, not answered."""
    from governance.pii.classifications import producer_claims

    store = services.classifications
    if store is None:
        return
    try:
        claims = producer_claims(events)
        if claims:
            await run_in_threadpool(store.record_lineage, claims)
    except Exception as exc:
        log.warning("producer classifications not recorded: %s", type(exc).__name__)


_EVENT_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": schemas.event_body()}},
    }
}
_BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": schemas.batch_body()}},
    }
}


@router.post(
    "/api/v1/lineage",
    status_code=201,
    openapi_extra=_EVENT_BODY,
    responses={201: {"model": schemas.Accepted, "description": "Durable"}},
)
async def post_event(
    request: Request, lineage: LineageDep, services: ServicesDep, caller: Writer
) -> JSONResponse:
    """Accept one OpenLineage event (RunEvent, DatasetEvent or JobEvent), the path the
    OpenLineage HTTP transport posts to. The event is validated against the OpenLineage JSON
    schema (facets included) and answered 201 only once it is durable; the graph is updated
    from the outbox moments later, even if the graph was down at the time."""
    body = await _body(request, lineage.ingest.max_event_bytes)
    lineage.ingest.check(body)
    accepted = await lineage.ingest.accept([body], "api")
    lineage.drain.wake()
    await _note_classifications(services, [body])
    return JSONResponse({"accepted": accepted}, status_code=201)


@router.post(
    "/api/v1/lineage/batch",
    status_code=201,
    openapi_extra=_BATCH_BODY,
    responses={201: {"model": schemas.Accepted, "description": "Durable"}},
)
async def post_batch(
    request: Request, lineage: LineageDep, services: ServicesDep, caller: Writer
) -> JSONResponse:
    """Accept many events in one call: a JSON array (or ``{"events": [...]}``). Every event
    is validated first; one invalid event rejects the whole batch and nothing is written."""
    limit = request.app.state.settings.lineage.max_batch_bytes
    events = lineage.ingest.events_of(await _body(request, limit))
    lineage.ingest.check_all(events)
    accepted = await lineage.ingest.accept(events, "batch")
    lineage.drain.wake()
    await _note_classifications(services, events)
    return JSONResponse({"accepted": accepted}, status_code=201)


# ---- Marquez-compatible reads ------------------------------------------------------------------


def _answer(body: Any) -> Response:
    """A body built by ``lineage.queries`` in its documented shape (``lineage_schemas``)."""
    return Response(orjson.dumps(body), media_type="application/json")


GraphNode = Annotated[
    str,
    Query(
        alias="nodeId",
        pattern=schemas.GRAPH_NODE,
        description="dataset:NS:NAME or job:NS:NAME",
    ),
]
ColumnNode = Annotated[
    str,
    Query(
        alias="nodeId",
        pattern=schemas.COLUMN_NODE,
        description="datasetField:NS:NAME:FIELD, dataset:NS:NAME or job:NS:NAME",
    ),
]
ReachNode = Annotated[
    str,
    Query(
        alias="nodeId",
        pattern=schemas.DATASET_OR_FIELD_NODE,
        description="dataset:NS:NAME or datasetField:NS:NAME:FIELD",
    ),
]
FieldNode = Annotated[
    str, Query(alias="nodeId", pattern=schemas.FIELD_NODE, description="datasetField:NS:NAME:FIELD")
]
# Path segments are URL-encoded, so a namespace such as ``postgres://host:5432`` travels as
# ``postgres%3A%2F%2Fhost%3A5432``; ``EncodedSegments`` keeps its slashes inside the segment.
# ``EncodedSegments`` keeps its slashes inside the segment; the parameter decodes it here.
Namespace = Annotated[
    str, Path(description="A namespace, URL-encoded as one segment."), AfterValidator(unquote)
]
Name = Annotated[
    str,
    Path(description="A dataset or job name, URL-encoded as one segment."),
    AfterValidator(unquote),
]


@router.get("/api/v1/lineage", responses=schemas.ok(schemas.LineageGraph))
async def get_lineage(
    lineage: LineageDep, _caller: Reader, node_id: GraphNode, depth: Depth = 20
) -> Response:
    """The lineage graph around a dataset or job, in Marquez's shape."""
    return _answer(await run_in_threadpool(lineage.queries.lineage, node_id, depth))


@router.get("/api/v1/column-lineage", responses=schemas.ok(schemas.ColumnGraph))
async def get_column_lineage(
    lineage: LineageDep,
    _caller: Reader,
    node_id: ColumnNode,
    depth: Depth = 20,
    with_downstream: Annotated[bool, Query(alias="withDownstream")] = False,
) -> Response:
    """Column-level lineage in Marquez's shape: upstream, and downstream when asked."""
    return _answer(
        await run_in_threadpool(
            lambda: lineage.queries.column_lineage(node_id, depth, with_downstream=with_downstream)
        )
    )


@router.get("/api/v1/namespaces", responses=schemas.ok(schemas.Namespaces))
async def get_namespaces(lineage: LineageDep, _caller: Reader) -> Response:
    """Every namespace seen in lineage events."""
    return _answer(await run_in_threadpool(lineage.queries.namespaces))


@router.get("/api/v1/namespaces/{namespace}/datasets", responses=schemas.ok(schemas.Datasets))
async def get_datasets(
    namespace: Namespace,
    lineage: LineageDep,
    _caller: Reader,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    """The datasets of a namespace, by name."""
    q = lineage.queries
    return _answer(await run_in_threadpool(q.datasets, namespace, limit, offset))


@router.get(
    "/api/v1/namespaces/{namespace}/datasets/{dataset}", responses=schemas.ok(schemas.Dataset)
)
async def get_dataset(
    namespace: Namespace, dataset: Name, lineage: LineageDep, _caller: Reader
) -> Response:
    """One dataset."""
    q = lineage.queries
    return _answer(await run_in_threadpool(q.dataset, namespace, dataset))


@router.get("/api/v1/namespaces/{namespace}/jobs", responses=schemas.ok(schemas.Jobs))
async def get_jobs(
    namespace: Namespace,
    lineage: LineageDep,
    _caller: Reader,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    """The jobs of a namespace, by name."""
    q = lineage.queries
    return _answer(await run_in_threadpool(q.jobs, namespace, limit, offset))


@router.get("/api/v1/namespaces/{namespace}/jobs/{job}", responses=schemas.ok(schemas.Job))
async def get_job(
    namespace: Namespace, job: Name, lineage: LineageDep, _caller: Reader
) -> Response:
    """One job, with its latest run."""
    q = lineage.queries
    return _answer(await run_in_threadpool(q.job, namespace, job))


@router.get("/api/v1/namespaces/{namespace}/jobs/{job}/runs", responses=schemas.ok(schemas.Runs))
async def get_runs(
    namespace: Namespace,
    job: Name,
    lineage: LineageDep,
    _caller: Reader,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    """A job's runs, newest first."""
    q = lineage.queries
    return _answer(await run_in_threadpool(q.runs, namespace, job, limit, offset))


@router.get("/api/v1/jobs/runs/{run_id}", responses=schemas.ok(schemas.Run))
async def get_run(run_id: str, lineage: LineageDep, _caller: Reader) -> Response:
    """One run, Marquez's shape."""
    return _answer(await run_in_threadpool(lineage.queries.run, run_id))


# ---- beyond Marquez ----------------------------------------------------------------------------


@router.get("/v1/lineage/graph", responses=schemas.ok(schemas.LineageGraph))
async def get_graph(
    lineage: LineageDep,
    _caller: Reader,
    node_id: GraphNode,
    depth: Depth = 20,
    direction: Literal["upstream", "downstream", "both"] = "both",
    as_of: Annotated[
        UtcDatetime | None, Query(alias="asOf", description="Lineage as it was then.")
    ] = None,
) -> Response:
    """Upstream, downstream or both, optionally as of a point in time (edges first seen
    after it are left out). Marquez's shape."""
    return _answer(
        await run_in_threadpool(
            lambda: lineage.queries.lineage(node_id, depth, direction=direction, as_of=as_of)
        )
    )


@router.get("/v1/lineage/pii-flow", responses=schemas.ok(schemas.PiiFlow))
async def get_pii_flow(
    lineage: LineageDep, _caller: Reader, node_id: FieldNode, depth: Depth = 20
) -> Response:
    """Where a field's personal data travels: every downstream field it reaches through
    value-carrying column lineage, the PII types it carries there, the path, and where a
    masking (or indirect) transformation stopped it."""
    return _answer(await run_in_threadpool(lineage.queries.pii_flow, node_id, depth))


@router.get("/v1/lineage/impact", responses=schemas.ok(schemas.Impact))
async def get_impact(
    lineage: LineageDep, _caller: Reader, node_id: ReachNode, depth: Depth = 20
) -> Response:
    """Every dataset, job and ML model fed, directly or transitively, by a dataset or field."""
    return _answer(await run_in_threadpool(lineage.queries.impact, node_id, depth))


@router.get("/v1/lineage/classifications", responses=schemas.ok(schemas.Classifications))
async def get_classifications(lineage: LineageDep, _caller: Reader, node_id: FieldNode) -> Response:
    """A field's classifications: its own (scan, steward, producer) and those inherited along
    column lineage, each with the field it came from and the path."""
    return _answer(await run_in_threadpool(lineage.queries.classifications_of, node_id))


class ClassificationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    node_id: str = Field(
        alias="nodeId", pattern=schemas.FIELD_NODE, description="datasetField:NS:NAME:FIELD"
    )
    pii_type: str = Field(alias="piiType", pattern=r"^[A-Z][A-Z0-9_]*$")
    confidence: float = Field(1.0, ge=0, le=1)


@router.post("/v1/lineage/classifications", status_code=201)
async def post_classification(
    body: ClassificationIn, lineage: LineageDep, _caller: Classifier
) -> schemas.ClassificationOut:
    """A steward classifies a field; the classification propagates downstream."""
    node = parse_node_id(body.node_id)
    if node.kind != "datasetField" or node.field is None:
        raise InvalidInput("classify a datasetField:NS:NAME:FIELD")
    from datetime import UTC

    at = datetime.now(UTC)
    key = field_key(node.namespace, node.name, node.field)
    await run_in_threadpool(
        lambda: lineage.store.classify(
            key, body.pii_type, source="steward", confidence=body.confidence, at=at
        )
    )
    return schemas.ClassificationOut(
        field=str(node), piiType=body.pii_type, source="steward", at=at
    )


@router.get("/v1/lineage/status", responses=schemas.ok(schemas.OutboxStatus))
async def get_status(lineage: LineageDep, _caller: Reader) -> JSONResponse:
    """The outbox: events waiting for the graph, events set aside, and the last error."""
    s = await run_in_threadpool(lineage.drain.status)
    return JSONResponse(
        {
            "backend": s.backend,
            "outboxDepth": s.pending,
            "dead": s.dead,
            "processed": s.processed,
            "lastError": s.last_error,
            "lastErrorAt": iso(s.last_error_at),
            "lastSuccessAt": iso(s.last_success_at),
            "consecutiveFailures": s.consecutive_failures,
            "drainRunning": s.running,
        }
    )
