"""Compliance reports for auditors: built from evidence, signed, anchored to the audit trail."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
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
from governance.pdp.decision import DATASET_RE, NAME_RE, SUBJECT_RE
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


Format = Annotated[
    Literal["json", "html", "pdf"] | None,
    Query(description="Default: from Accept (text/html gives HTML), else JSON."),
]
RequestId = Annotated[
    str,
    Query(
        min_length=36,
        max_length=36,
        pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
        description="The privacy request (its id, a UUID).",
    ),
]
REPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The signed report: JSON (an envelope), HTML or PDF.",
        "content": {"text/html": {"schema": {"type": "string"}}, "application/pdf": {}},
    },
}
CONFLICT_RESPONSES: dict[int | str, dict[str, Any]] = {
    **REPORT_RESPONSES,
    409: {"description": "The privacy request is of another kind, or not that far yet"},
}


async def _answer(
    kind: str,
    params: ReportParams,
    request: Request,
    reports: ReportService,
    caller: Caller,
    format: str | None,
) -> Response:
    fmt = format or ("html" if "text/html" in request.headers.get("accept", "") else "json")
    envelope = await run_in_threadpool(lambda: reports.build(kind, params, by=caller.name))
    rendered = await run_in_threadpool(reports.render, envelope, fmt)
    filename = f"{kind}-{envelope.generated_at[:10]}.{rendered.extension}"
    return Response(
        rendered.body,
        media_type=rendered.media_type,
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


_SIGNED = (
    "\n\nBuilt from evidence, signed (Ed25519, anchored to the audit chain heads), and its making "
    "recorded in the audit chain. JSON by default; `Accept: text/html` or `format=html` for the "
    "printable page; `format=pdf` where Chromium is installed."
)
Endpoint = Callable[..., Awaitable[Response]]


def _report(
    path: str, responses: dict[int | str, dict[str, Any]] = REPORT_RESPONSES
) -> Callable[[Endpoint], Endpoint]:
    """A report kind's route: its own parameters, and the signing paragraph in its doc."""

    def register(endpoint: Endpoint) -> Endpoint:
        endpoint.__doc__ = inspect.cleandoc(endpoint.__doc__ or "") + _SIGNED
        return router.get(path, response_model=ReportEnvelope, responses=responses)(endpoint)

    return register


@_report("/ropa")
async def ropa(
    request: Request,
    reports: ReportsDep,
    caller: Auditor,
    since: Since = None,
    until: Until = None,
    format: Format = None,
) -> Response:
    """GDPR Art. 30 record of processing activities: per purpose, the declared processing
    beside the processing the decisions show, and every divergence between them."""
    params = ReportParams(since, until, None, None, None, None, None)
    return await _answer("ropa", params, request, reports, caller, format)


@_report("/ccpa")
async def ccpa(
    request: Request,
    reports: ReportsDep,
    caller: Auditor,
    since: Since = None,
    until: Until = None,
    format: Format = None,
) -> Response:
    """CCPA/CPRA: categories collected, sold or shared, opt-outs and GPC honoured, and the
    consumer-request metrics of § 7102."""
    params = ReportParams(since, until, None, None, None, None, None)
    return await _answer("ccpa", params, request, reports, caller, format)


@_report("/ai")
async def ai(
    request: Request,
    reports: ReportsDep,
    caller: Auditor,
    model: Annotated[
        str,
        Query(
            min_length=3,
            max_length=500,
            pattern=DATASET_RE.pattern,
            description="The model, `namespace/name` as in the lineage graph.",
        ),
    ],
    since: Since = None,
    until: Until = None,
    format: Format = None,
) -> Response:
    """One model's training data: the source datasets and columns through lineage, their PII,
    the purposes and decisions that let it through, and the model's declaration."""
    params = ReportParams(since, until, model, None, None, None, None)
    return await _answer("ai", params, request, reports, caller, format)


@_report("/dsar", CONFLICT_RESPONSES)
async def dsar(
    request: Request,
    reports: ReportsDep,
    caller: Auditor,
    request_id: RequestId,
    format: Format = None,
) -> Response:
    """GDPR Art. 15 / CCPA right to know: the answer to one access request, from its result."""
    params = ReportParams(None, None, None, request_id, None, None, None)
    return await _answer("dsar", params, request, reports, caller, format)


@_report("/erasure", CONFLICT_RESPONSES)
async def erasure(
    request: Request,
    reports: ReportsDep,
    caller: Auditor,
    request_id: RequestId,
    format: Format = None,
) -> Response:
    """GDPR Art. 17 / CCPA deletion: the plan and its receipts, step by step."""
    params = ReportParams(None, None, None, request_id, None, None, None)
    return await _answer("erasure", params, request, reports, caller, format)


@_report("/decisions")
async def decisions(
    request: Request,
    reports: ReportsDep,
    caller: Auditor,
    since: Since = None,
    until: Until = None,
    dataset: Annotated[
        str | None, Query(max_length=500, pattern=DATASET_RE.pattern, description="ns/name")
    ] = None,
    subject: Annotated[
        str | None, Query(max_length=300, pattern=SUBJECT_RE.pattern, description="user:NAME")
    ] = None,
    purpose: Annotated[str | None, Query(max_length=100, pattern=NAME_RE.pattern)] = None,
    format: Format = None,
) -> Response:
    """The decisions in a period, filtered by dataset, subject or purpose, with their totals."""
    params = ReportParams(since, until, None, None, dataset, subject, purpose)
    return await _answer("decisions", params, request, reports, caller, format)
