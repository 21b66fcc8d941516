"""Lineage: the OpenLineage endpoint producers post to, Marquez-compatible reads, and ours."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import unquote

from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from governance.api.deps import LineageDep, ServicesDep, require
from governance.api.params import Depth, Limit, Offset
from governance.api.routing import api_router
from governance.callers import Caller
from governance.errors import InvalidInput, NotFound
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


@router.post("/api/v1/lineage", status_code=201)
async def post_event(
    request: Request, lineage: LineageDep, services: ServicesDep, caller: Writer
) -> dict[str, int]:
    """Accept one OpenLineage event (RunEvent, DatasetEvent or JobEvent), the path the
    OpenLineage HTTP transport posts to. The event is validated against the OpenLineage JSON
    schema (facets included) and answered 201 only once it is durable; the graph is updated
    from the outbox moments later, even if the graph was down at the time."""
    body = await _body(request, lineage.ingest.max_event_bytes)
    lineage.ingest.check(body)
    accepted = await lineage.ingest.accept([body], "api")
    lineage.drain.wake()
    await _note_classifications(services, [body])
    return {"accepted": accepted}


@router.post("/api/v1/lineage/batch", status_code=201)
async def post_batch(
    request: Request, lineage: LineageDep, services: ServicesDep, caller: Writer
) -> dict[str, int]:
    """Accept many events in one call: a JSON array (or ``{"events": [...]}``). Every event
    is validated first; one invalid event rejects the whole batch and nothing is written."""
    limit = request.app.state.settings.lineage.max_batch_bytes
    events = lineage.ingest.events_of(await _body(request, limit))
    lineage.ingest.check_all(events)
    accepted = await lineage.ingest.accept(events, "batch")
    lineage.drain.wake()
    await _note_classifications(services, events)
    return {"accepted": accepted}


# ---- Marquez-compatible reads ------------------------------------------------------------------


@router.get("/api/v1/lineage")
async def get_lineage(
    lineage: LineageDep,
    _caller: Reader,
    node_id: Annotated[str, Query(alias="nodeId", description="dataset:NS:NAME or job:NS:NAME")],
    depth: Depth = 20,
) -> dict[str, Any]:
    """The lineage graph around a dataset or job, in Marquez's shape."""
    return await run_in_threadpool(lineage.queries.lineage, node_id, depth)


@router.get("/api/v1/column-lineage")
async def get_column_lineage(
    lineage: LineageDep,
    _caller: Reader,
    node_id: Annotated[
        str, Query(alias="nodeId", description="datasetField:NS:NAME:FIELD or dataset:NS:NAME")
    ],
    depth: Depth = 20,
    with_downstream: Annotated[bool, Query(alias="withDownstream")] = False,
) -> dict[str, Any]:
    """Column-level lineage in Marquez's shape: upstream, and downstream when asked."""
    return await run_in_threadpool(
        lambda: lineage.queries.column_lineage(node_id, depth, with_downstream=with_downstream)
    )


@router.get("/api/v1/namespaces")
async def get_namespaces(lineage: LineageDep, _caller: Reader) -> dict[str, Any]:
    """Every namespace seen in lineage events."""
    return await run_in_threadpool(lineage.queries.namespaces)


@router.get("/api/v1/namespaces/{rest:path}")
async def get_namespace_resource(
    request: Request,
    lineage: LineageDep,
    _caller: Reader,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """``{ns}/datasets``, ``{ns}/datasets/{name}``, ``{ns}/jobs``, ``{ns}/jobs/{name}`` and
    ``{ns}/jobs/{name}/runs``. Names are URL-encoded path segments, so namespaces such as
    ``postgres://host:5432`` work (``postgres%3A%2F%2Fhost%3A5432``)."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    tail = raw.decode("latin-1").split("?", 1)[0].split("/api/v1/namespaces/", 1)[1]
    parts = [unquote(p) for p in tail.split("/")]
    q = lineage.queries
    match parts:
        case [ns, "datasets"]:
            return await run_in_threadpool(q.datasets, ns, limit, offset)
        case [ns, "datasets", name]:
            return await run_in_threadpool(q.dataset, ns, name)
        case [ns, "jobs"]:
            return await run_in_threadpool(q.jobs, ns, limit, offset)
        case [ns, "jobs", name]:
            return await run_in_threadpool(q.job, ns, name)
        case [ns, "jobs", name, "runs"]:
            return await run_in_threadpool(q.runs, ns, name, limit, offset)
    raise NotFound(f"no such resource: /api/v1/namespaces/{tail}")


@router.get("/api/v1/jobs/runs/{run_id}")
async def get_run(run_id: str, lineage: LineageDep, _caller: Reader) -> dict[str, Any]:
    """One run, Marquez's shape."""
    return await run_in_threadpool(lineage.queries.run, run_id)


# ---- beyond Marquez ----------------------------------------------------------------------------


@router.get("/v1/lineage/graph")
async def get_graph(
    lineage: LineageDep,
    _caller: Reader,
    node_id: Annotated[str, Query(alias="nodeId")],
    depth: Depth = 20,
    direction: Literal["upstream", "downstream", "both"] = "both",
    as_of: Annotated[
        UtcDatetime | None, Query(alias="asOf", description="Lineage as it was then.")
    ] = None,
) -> dict[str, Any]:
    """Upstream, downstream or both, optionally as of a point in time (edges first seen
    after it are left out). Marquez's shape."""
    return await run_in_threadpool(
        lambda: lineage.queries.lineage(node_id, depth, direction=direction, as_of=as_of)
    )


@router.get("/v1/lineage/pii-flow")
async def get_pii_flow(
    lineage: LineageDep,
    _caller: Reader,
    node_id: Annotated[str, Query(alias="nodeId", description="datasetField:NS:NAME:FIELD")],
    depth: Depth = 20,
) -> dict[str, Any]:
    """Where a field's personal data travels: every downstream field it reaches through
    value-carrying column lineage, the PII types it carries there, the path, and where a
    masking (or indirect) transformation stopped it."""
    return await run_in_threadpool(lineage.queries.pii_flow, node_id, depth)


@router.get("/v1/lineage/impact")
async def get_impact(
    lineage: LineageDep,
    _caller: Reader,
    node_id: Annotated[str, Query(alias="nodeId")],
    depth: Depth = 20,
) -> dict[str, Any]:
    """Every dataset, job and ML model fed, directly or transitively, by a dataset or field."""
    return await run_in_threadpool(lineage.queries.impact, node_id, depth)


@router.get("/v1/lineage/classifications")
async def get_classifications(
    lineage: LineageDep,
    _caller: Reader,
    node_id: Annotated[str, Query(alias="nodeId", description="datasetField:NS:NAME:FIELD")],
) -> dict[str, Any]:
    """A field's classifications: its own (scan, steward, producer) and those inherited along
    column lineage, each with the field it came from and the path."""
    return await run_in_threadpool(lineage.queries.classifications_of, node_id)


class ClassificationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    node_id: str = Field(alias="nodeId", description="datasetField:NS:NAME:FIELD")
    pii_type: str = Field(alias="piiType", pattern=r"^[A-Z][A-Z0-9_]*$")
    confidence: float = Field(1.0, ge=0, le=1)


@router.post("/v1/lineage/classifications", status_code=201)
async def post_classification(
    body: ClassificationIn, lineage: LineageDep, _caller: Classifier
) -> dict[str, Any]:
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
    return {"field": str(node), "piiType": body.pii_type, "source": "steward", "at": iso(at)}


@router.get("/v1/lineage/status")
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
