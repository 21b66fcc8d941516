"""Data subject rights: consent and opt-out records, privacy requests, access and erasure."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from governance.api.deps import ServicesDep, SubjectsDep, require, require_principals
from governance.api.params import Limit, Offset, Since, Until
from governance.api.routing import CONFLICT, api_router
from governance.api.vocabulary import vocabulary
from governance.callers import Caller, CallerRole
from governance.errors import NotFound
from governance.pdp.decision import NAME_RE, SUBJECT_RE, AccessRequest
from governance.subjects.access import AccessResult
from governance.subjects.consent import NewConsent
from governance.subjects.erasure import ErasurePlan, Receipt
from governance.subjects.identifiers import SubjectIdentifiers, parse_identifier_text
from governance.subjects.requests import KINDS, STATUSES
from governance.timestamps import UtcDatetime

router = api_router(tags=["subject rights"])
ConsentWriter = Annotated[Caller, Depends(require("consents:write"))]
ConsentReader = Annotated[Caller, Depends(require("consents:read"))]
RequestOpener = Annotated[Caller, Depends(require("dsr:open"))]
RequestReader = Annotated[Caller, Depends(require("dsr:read"))]
RequestManager = Annotated[Caller, Depends(require("dsr:manage"))]
Eraser = Annotated[Caller, Depends(require("dsr:erase"))]


# ---- consents ---------------------------------------------------------------------------------


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    subject: SubjectIdentifiers
    purpose: str = Field(
        max_length=100,
        pattern=NAME_RE.pattern,
        description="A purpose of purposes.yaml, or a CCPA right: sale, share, sensitive_limit.",
        json_schema_extra=vocabulary("consent-purposes"),
    )
    status: Literal["granted", "withdrawn"]
    source: Literal["api", "import", "gpc", "dsr"] = "api"
    recorded_at: UtcDatetime | None = Field(
        None, description="When the subject gave or withdrew it (default: now)."
    )
    evidence: dict[str, Any] = Field(
        default_factory=dict,
        description="How it was collected (form id, wording version …); never the identifier.",
    )


class ConsentOut(BaseModel):
    id: int
    record_group: str
    subject_ref: str = Field(description="Keyed reference of one identifier (not reversible).")
    identifier_kind: str
    purpose: str
    status: str
    source: str
    recorded_at: str
    recorded_by: str
    evidence: dict[str, Any]


class ConsentStateOut(BaseModel):
    purpose: str
    status: str
    record: int
    recorded_at: str


class ConsentHistoryOut(BaseModel):
    identifier_kind: str
    records: list[ConsentOut] = Field(description="Every record, oldest first.")
    current: list[ConsentStateOut] = Field(description="The latest record per purpose.")


@router.post("/v1/consents", status_code=201, response_model=list[ConsentOut])
async def record_consent(
    body: ConsentIn, subjects: SubjectsDep, caller: ConsentWriter
) -> list[ConsentOut]:
    """Record a consent or an opt-out (one record per identifier given; history is kept whole).
    Decisions honour it from the next decision on."""
    item = NewConsent(
        body.subject, body.purpose, body.status, body.source, body.recorded_at, body.evidence
    )
    records = await run_in_threadpool(subjects.consents.record, item, by=caller.name)
    return [ConsentOut.model_validate(r.public()) for r in records]


@router.get("/v1/consents", response_model=ConsentHistoryOut)
async def consent_history(
    subjects: SubjectsDep,
    _caller: ConsentReader,
    subject: Annotated[
        str,
        Query(
            max_length=400,
            description="KIND:VALUE, e.g. `customer_id:CU10000042` or `email:jane@example.com`.",
            json_schema_extra=vocabulary("identifier-text"),
        ),
    ],
) -> ConsentHistoryOut:
    """A subject's consent history and current state per purpose."""
    kind, value = parse_identifier_text(subject)
    identifier = subjects.keys.identifier(kind, value, ("query", "subject"))
    records = await run_in_threadpool(subjects.consents.history, identifier)
    if not records:
        raise NotFound("no consent or opt-out is on record for this subject")
    current: dict[str, ConsentStateOut] = {}
    for r in records:
        current[r.purpose] = ConsentStateOut(
            purpose=r.purpose, status=r.status, record=r.id, recorded_at=r.public()["recorded_at"]
        )
    return ConsentHistoryOut(
        identifier_kind=kind,
        records=[ConsentOut.model_validate(r.public()) for r in records],
        current=sorted(current.values(), key=lambda c: c.purpose),
    )


# ---- privacy requests -------------------------------------------------------------------------


class PrivacyRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    kind: Literal["access", "erasure", "rectification", "opt_out", "restrict"]
    subject: SubjectIdentifiers
    jurisdiction: Literal["gdpr", "ccpa"]
    received_at: UtcDatetime | None = Field(None, description="When it arrived (default: now).")
    note: str | None = Field(None, max_length=2000)


class PrivacyRequestOut(BaseModel):
    id: str
    kind: str
    status: str
    jurisdiction: str
    subject_ref: str = Field(description="First 16 hex digits of the keyed subject reference.")
    identifier_kinds: list[str]
    received_at: str
    due_at: str = Field(description="GDPR: one month (Art. 12(3)); CCPA: 45 days.")
    updated_at: str
    completed_at: str | None
    overdue: bool
    days_left: int | None
    opened_by: str
    reason: str | None
    has_result: bool
    plan_digest: str | None


class StatusIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={  # a denial names its reason (GDPR Art. 12(4), CCPA regs § 7022)
            "if": {"properties": {"status": {"const": "denied"}}, "required": ["status"]},
            "then": {
                "required": ["reason"],
                "properties": {"reason": {"type": "string", "minLength": 1}},
            },
        },
    )

    status: Literal["received", "verified", "in_progress", "completed", "denied"]
    reason: str | None = Field(None, max_length=2000)


class AccessRunIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    include_values: bool = Field(
        False, description="Show the values held (stewards and administrators only)."
    )
    datasets: list[str] | None = Field(
        None, max_length=500, description="Search only these datasets (`ns/name`)."
    )


class ExecuteIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    plan_digest: str = Field(
        min_length=64, max_length=64, description="The digest of the plan that was shown."
    )
    principal: str = Field(
        pattern=SUBJECT_RE.pattern,
        max_length=300,
        description="Who erases (a steward, user:…): the deletions are decided for them.",
    )
    context: dict[str, Any] = Field(
        default_factory=dict,
        description="Attributes of the erasure decisions (`region` …), as for any decision.",
    )


class ErasureOut(BaseModel):
    request: PrivacyRequestOut
    receipts: list[Receipt]


def _out(view: Any) -> PrivacyRequestOut:
    return PrivacyRequestOut.model_validate(view.public())


@router.post("/v1/privacy-requests", status_code=201, response_model=PrivacyRequestOut)
async def open_request(
    body: PrivacyRequestIn, subjects: SubjectsDep, caller: RequestOpener
) -> PrivacyRequestOut:
    """Open a privacy request; it is due in one month (GDPR) or 45 days (CCPA)."""
    view = await run_in_threadpool(
        lambda: subjects.requests.open(
            body.kind,
            body.subject,
            body.jurisdiction,
            by=caller.name,
            received_at=body.received_at,
            note=body.note,
        )
    )
    return _out(view)


@router.get("/v1/privacy-requests", response_model=list[PrivacyRequestOut])
async def list_requests(
    subjects: SubjectsDep,
    _caller: RequestReader,
    status: Annotated[str | None, Query(pattern="^(" + "|".join(STATUSES) + ")$")] = None,
    kind: Annotated[str | None, Query(pattern="^(" + "|".join(KINDS) + ")$")] = None,
    overdue: bool | None = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[PrivacyRequestOut]:
    """The queue, soonest due first, with overdue flags; filters by status, kind, time."""
    views = await run_in_threadpool(
        lambda: subjects.requests.list(
            status=status,
            kind=kind,
            overdue=overdue,
            since=since,
            until=until,
            limit=limit,
            offset=offset,
        )
    )
    return [_out(v) for v in views]


@router.get(
    "/v1/privacy-requests/{request_id}", response_model=PrivacyRequestOut, responses=CONFLICT
)
async def get_request(
    request_id: str, subjects: SubjectsDep, _caller: RequestReader
) -> PrivacyRequestOut:
    """One privacy request (its identifiers are never shown)."""
    return _out(await run_in_threadpool(subjects.requests.get, request_id))


@router.post(
    "/v1/privacy-requests/{request_id}/status", response_model=PrivacyRequestOut, responses=CONFLICT
)
async def change_status(
    request_id: str, body: StatusIn, subjects: SubjectsDep, caller: RequestManager
) -> PrivacyRequestOut:
    """Move a request on (received → verified → in_progress → completed, or denied with a
    reason); every change is recorded in the audit chain."""
    view = await run_in_threadpool(
        lambda: subjects.requests.transition(
            request_id, body.status, by=caller.name, reason=body.reason
        )
    )
    return _out(view)


@router.post(
    "/v1/privacy-requests/{request_id}/access", response_model=AccessResult, responses=CONFLICT
)
async def run_access(
    request_id: str, body: AccessRunIn, subjects: SubjectsDep, caller: RequestManager
) -> AccessResult:
    """Search every source, derived dataset and model for the subject (GDPR Art. 15, CCPA
    right to know). Values are included only for stewards and administrators who ask."""
    include = body.include_values and caller.role in (CallerRole.steward, CallerRole.admin)
    return await run_in_threadpool(
        lambda: subjects.access(
            request_id, include_values=include, by=caller.name, datasets=body.datasets
        )
    )


@router.get(
    "/v1/privacy-requests/{request_id}/access", response_model=AccessResult, responses=CONFLICT
)
async def stored_access(
    request_id: str, subjects: SubjectsDep, _caller: RequestReader
) -> AccessResult:
    """The access result last produced for the request."""
    result = await run_in_threadpool(subjects.stored_access, request_id)
    if result is None:
        raise NotFound(f"request {request_id} has no access result yet")
    return result


@router.post(
    "/v1/privacy-requests/{request_id}/erasure/plan", response_model=ErasurePlan, responses=CONFLICT
)
async def plan_erasure(
    request_id: str, subjects: SubjectsDep, caller: RequestManager
) -> ErasurePlan:
    """Find the subject everywhere and show the erasure plan, downstream first. Nothing is
    erased until the plan's digest is confirmed by an administrator."""
    return await run_in_threadpool(lambda: subjects.plan_erasure(request_id, by=caller.name))


@router.post(
    "/v1/privacy-requests/{request_id}/erasure/execute",
    response_model=ErasureOut,
    responses=CONFLICT,
)
async def execute_erasure(
    request_id: str,
    body: ExecuteIn,
    services: ServicesDep,
    subjects: SubjectsDep,
    caller: Eraser,
) -> ErasureOut:
    """Execute the plan that was shown (administrators only). Each step is a decision for
    `principal` (action delete, purpose data_subject_request), recorded; each step writes a
    receipt; a rerun resumes what an interruption left and does nothing twice."""
    require_principals(caller, [body.principal])

    def decide(request: AccessRequest, by: str) -> Any:
        return services.decisions.decide(request, by)

    receipts = await run_in_threadpool(
        lambda: subjects.erase(
            request_id,
            body.plan_digest,
            principal=body.principal,
            by=caller.name,
            decide=decide,
            context=body.context,
        )
    )
    view = await run_in_threadpool(subjects.requests.get, request_id)
    return ErasureOut(request=_out(view), receipts=receipts)


@router.get("/v1/privacy-requests/{request_id}/receipts", response_model=list[Receipt])
async def receipts(request_id: str, subjects: SubjectsDep, _caller: RequestReader) -> list[Receipt]:
    """The erasure receipts of a request, one per plan step."""
    await run_in_threadpool(subjects.requests.get, request_id)
    return await run_in_threadpool(subjects.eraser.receipts, request_id)


@router.post(
    "/v1/privacy-requests/{request_id}/opt-out",
    response_model=PrivacyRequestOut,
    responses=CONFLICT,
)
async def execute_opt_out(
    request_id: str, subjects: SubjectsDep, caller: RequestManager
) -> PrivacyRequestOut:
    """A CCPA opt-out request: record the withdrawals of sale and sharing and complete it."""
    await run_in_threadpool(lambda: subjects.opt_out(request_id, by=caller.name))
    return _out(await run_in_threadpool(subjects.requests.get, request_id))
