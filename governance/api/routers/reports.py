"""Compliance reports for auditors: built from evidence, signed, anchored to the audit trail."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from governance.api.deps import ServicesDep, require
from governance.api.params import Since, Until
from governance.api.routing import api_router
from governance.callers import Caller
from governance.errors import NotFound
from governance.reports.models import ReportEnvelope
from governance.reports.service import ReportParams, ReportService

router = api_router(prefix="/v1/reports", tags=["reports"])
Auditor = Annotated[Caller, Depends(require("reports:read"))]


def _reports(services: ServicesDep) -> ReportService:
    if services.reports is None:
        raise NotFound("reports are not enabled in this service")
    return services.reports


ReportsDep = Annotated[ReportService, Depends(_reports)]


class PublicKeyOut(BaseModel):
    kid: str
    alg: str
    created: str
    public_key: str = Field(description="Raw Ed25519 public key, base64.")


class KeySetOut(BaseModel):
    active: str
    keys: list[PublicKeyOut]


class CheckOut(BaseModel):
    ok: bool
    kind: str | None
    title: str | None
    generated_at: str | None
    kid: str | None
    signature_ok: bool
    bytes_ok: bool
    anchored: bool | None = Field(
        description="Are the audit records the report relied on still in the trail?"
    )
    problems: list[str]


@router.get("/keys", response_model=KeySetOut)
async def keys(reports: ReportsDep) -> KeySetOut:
    """The public keys that verify reports and audit checkpoints (every key still in the ring).
    Public: a verifier needs nothing else."""
    return KeySetOut.model_validate(reports.signer.keyset())


@router.get("/schemas/{kind}")
async def schema(
    kind: Literal["ropa", "ccpa", "ai", "dsar", "erasure", "decisions"],
) -> dict[str, Any]:
    """The JSON schema of a report kind's content."""
    return ReportService.schema(kind)


@router.post("/verify", response_model=CheckOut)
async def verify(request: Request, reports: ReportsDep, _caller: Auditor) -> CheckOut:
    """Verify a report file sent as the body (JSON or HTML): its signature, its bytes, and that
    the audit records it relied on are still in the trail."""
    body = await request.body()
    result = await run_in_threadpool(reports.verify, body)
    return CheckOut.model_validate(result.public())


@router.get(
    "/{kind}",
    response_model=ReportEnvelope,
    responses={200: {"content": {"text/html": {}, "application/pdf": {}}}},
)
async def report(
    kind: Literal["ropa", "ccpa", "ai", "dsar", "erasure", "decisions"],
    request: Request,
    reports: ReportsDep,
    caller: Auditor,
    since: Since = None,
    until: Until = None,
    model: Annotated[
        str | None, Query(max_length=500, description="ai: the model, ns/name")
    ] = None,
    request_id: Annotated[
        str | None, Query(max_length=36, description="dsar, erasure: the privacy request")
    ] = None,
    dataset: Annotated[str | None, Query(max_length=500)] = None,
    subject: Annotated[str | None, Query(max_length=300)] = None,
    purpose: Annotated[str | None, Query(max_length=100)] = None,
    format: Annotated[
        Literal["json", "html", "pdf"] | None,
        Query(description="Default: from Accept (text/html gives HTML), else JSON."),
    ] = None,
) -> Response:
    """Build a report from evidence, sign it (Ed25519, anchored to the audit chain heads) and
    record its making in the audit chain. JSON by default; `Accept: text/html` or `format=html`
    for the printable page; `format=pdf` where Chromium is installed."""
    params = ReportParams(since, until, model, request_id, dataset, subject, purpose)
    fmt = format or ("html" if "text/html" in request.headers.get("accept", "") else "json")
    envelope = await run_in_threadpool(lambda: reports.build(kind, params, by=caller.name))
    rendered = await run_in_threadpool(reports.render, envelope, fmt)
    filename = f"{kind}-{envelope.generated_at[:10]}.{rendered.extension}"
    return Response(
        rendered.body,
        media_type=rendered.media_type,
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )
