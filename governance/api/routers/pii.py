"""PII: analyze and anonymize in the shape of Presidio's REST services, and reidentify tokens.

``/v1/pii/analyze`` and ``/v1/pii/anonymize`` take and return what Presidio's analyzer and
anonymizer services do, so their clients can switch by changing the URL (and sending an API
key). Differences, on purpose: overlapping findings are resolved (one entity per stretch of
text); ``hash``, ``encrypt`` and ``pseudonymize`` use the service's key ring and refuse a key in
the request. ``/v1/pii/reidentify`` reverses ``encrypt`` tokens only after a policy decision
(action ``reidentify``) allows it, and every reversal is in the audit trail.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from governance.api.deps import (
    ClassificationsDep,
    PiiDep,
    ServicesDep,
    require,
    require_principals,
)
from governance.api.routing import api_router
from governance.api.vocabulary import vocabulary
from governance.callers import Caller
from governance.errors import AccessDenied
from governance.pdp.decision import DATASET_RE, NAME_RE, AccessRequest, ResourceRef, SubjectRef

router = api_router(prefix="/v1/pii", tags=["pii"])
Analyzer = Annotated[Caller, Depends(require("pii:analyze"))]
Anonymizer = Annotated[Caller, Depends(require("pii:anonymize"))]
Reidentifier = Annotated[Caller, Depends(require("pii:reidentify"))]
Steward = Annotated[Caller, Depends(require("pii:classify"))]
ClassificationReader = Annotated[Caller, Depends(require("pii:read"))]


class AnalyzeIn(BaseModel):
    """Presidio analyzer's request (fields it has and we do not use are accepted, ignored)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    text: str
    language: Literal["en"] = Field("en", description="Only English models are installed.")
    entities: list[Annotated[str, Field(json_schema_extra=vocabulary("pii-entities"))]] | None = (
        Field(None, max_length=100, description="Entity types to look for (default: all).")
    )
    score_threshold: float | None = Field(None, ge=0, le=1)
    correlation_id: str | None = None


class RecognizerResultOut(BaseModel):
    entity_type: str
    start: int
    end: int
    score: float
    analysis_explanation: None = None
    recognition_metadata: dict[str, Any] = Field(default_factory=dict)


@router.post("/analyze", response_model=list[RecognizerResultOut])
async def analyze(body: AnalyzeIn, pii: PiiDep, caller: Analyzer) -> list[RecognizerResultOut]:
    """Find PII in a text: Presidio's list of `{entity_type, start, end, score}`."""
    findings = await asyncio.wrap_future(
        pii.submit(
            pii.analyze,
            body.text,
            language=body.language,
            entities=body.entities,
            score_threshold=body.score_threshold,
        )
    )
    return [
        RecognizerResultOut(
            entity_type=f.entity_type,
            start=f.start,
            end=f.end,
            score=round(f.score, 4),
            recognition_metadata={"recognizer_name": f.recognizer},
        )
        for f in findings
    ]


class AnalyzerResultIn(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    entity_type: str = Field(min_length=1, max_length=100)
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    score: float = Field(1.0, ge=0, le=1)


class AnonymizeIn(BaseModel):
    """Presidio anonymizer's request, plus ``purpose`` (the pseudonym domain of tokens) and,
    for ``encrypt``, the ``dataset`` and ``column`` its tokens are bound to."""

    model_config = ConfigDict(extra="ignore", strict=True)

    text: str
    analyzer_results: list[AnalyzerResultIn] = Field(default_factory=list, max_length=10_000)
    anonymizers: dict[str, dict[str, Any]] = Field(default_factory=dict, max_length=100)
    purpose: str | None = Field(None, max_length=100)
    dataset: str | None = Field(None, max_length=500, pattern=DATASET_RE.pattern)
    column: str | None = Field(None, min_length=1, max_length=300)


class AnonymizedItem(BaseModel):
    start: int
    end: int
    entity_type: str
    text: str
    operator: str


class AnonymizeOut(BaseModel):
    text: str
    items: list[AnonymizedItem]


@router.post("/anonymize", response_model=AnonymizeOut)
async def anonymize(body: AnonymizeIn, pii: PiiDep, caller: Anonymizer) -> AnonymizeOut:
    """Apply operators to the analyzer's findings: Presidio's `{text, items}`.

    Operator types: Presidio's `replace`, `redact`, `mask` and `keep`; `mask_format` (ours: the
    format-keeping mask obligations use); and, with the service's key ring, `hash` (HMAC-SHA256),
    `pseudonymize` (a stable token per purpose) and `encrypt` (reversible by
    `/v1/pii/reidentify`). Without `anonymizers`, every finding becomes `<ENTITY_TYPE>`.
    """
    out = await asyncio.wrap_future(
        pii.submit(
            pii.anonymize,
            body.text,
            [r.model_dump() for r in body.analyzer_results],
            body.anonymizers,
            purpose=body.purpose,
            dataset=body.dataset,
            column=body.column,
        )
    )
    return AnonymizeOut.model_validate(out)


class TokenRef(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    token: str = Field(min_length=1, max_length=4096)
    column: str | None = Field(
        None, min_length=1, max_length=300, description="The column the token came from."
    )


class ReidentifyIn(BaseModel):
    """Tokens to reverse, for `subject`, on `resource.dataset`, for `purpose`. A token opens
    only for the dataset and column it was made for: give the column once (`column`) or per
    token (`{"token": …, "column": …}`)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    subject: SubjectRef
    resource: ResourceRef
    purpose: str = Field(min_length=1, max_length=100, pattern=NAME_RE.pattern)
    context: dict[str, Any] = Field(default_factory=dict)
    column: str | None = Field(
        None, min_length=1, max_length=300, description="The column of every plain token."
    )
    tokens: list[str | TokenRef] = Field(min_length=1, max_length=1000)

    def pairs(self) -> list[tuple[str, str | None]]:
        return [
            (t, self.column) if isinstance(t, str) else (t.token, t.column or self.column)
            for t in self.tokens
        ]


class Reidentified(BaseModel):
    token: str
    column: str | None
    value: str


class ReidentifyOut(BaseModel):
    decision_id: str
    policy_version: str
    values: list[Reidentified]


@router.post("/reidentify", response_model=ReidentifyOut)
async def reidentify(
    body: ReidentifyIn, services: ServicesDep, pii: PiiDep, caller: Reidentifier
) -> ReidentifyOut:
    """Reverse `encrypt` tokens, if policy lets `subject` do action `reidentify` on the dataset
    for the purpose. The caller's key must be bound to act for `subject`. The decision, allow or
    deny, is in the audit trail with the tokens (never the values); a deny is a 403 naming the
    decision. Tokens made for another dataset or column do not open (422)."""
    require_principals(caller, [body.subject.id])
    pairs = body.pairs()
    columns = sorted({c for _, c in pairs if c is not None})
    request = AccessRequest(
        subject=body.subject,
        action="reidentify",
        resource=body.resource
        if body.resource.columns is not None or not columns
        else body.resource.model_copy(update={"columns": columns}),
        purpose=body.purpose,
        context={**body.context, "reidentify": {"tokens": [t for t, _ in pairs]}},
    )
    [recorded] = await services.decisions.decide_many_async([request], caller.name)
    decision = recorded.decision
    if not decision.allowed:
        raise AccessDenied(
            f"reidentification denied: {decision.reason} (decision {recorded.decision_id})"
        )
    values = await asyncio.wrap_future(
        pii.submit(pii.decrypt_all, pairs, dataset=body.resource.dataset)
    )
    return ReidentifyOut(
        decision_id=recorded.decision_id,
        policy_version=decision.policy_version,
        values=[
            Reidentified(token=t, column=c, value=v)
            for (t, c), v in zip(pairs, values, strict=True)
        ],
    )


# ---- classifications ---------------------------------------------------------------------------


class ClassificationOut(BaseModel):
    dataset: str
    column: str
    pii_type: str
    source: str
    status: str
    confidence: float
    evidence: dict[str, Any]
    updated_at: str
    reviewed_by: str | None
    reviewed_at: str | None


@router.get("/classifications", response_model=list[ClassificationOut])
async def list_classifications(
    store: ClassificationsDep,
    caller: ClassificationReader,
    dataset: Annotated[str | None, Query(max_length=500)] = None,
    status: Annotated[str | None, Query(pattern="^(suggested|confirmed|rejected)$")] = None,
) -> list[ClassificationOut]:
    """Column classifications: what scans suggest and what stewards confirmed or rejected."""
    rows = await run_in_threadpool(store.list, dataset=dataset, status=status)
    return [ClassificationOut.model_validate(c.public()) for c in rows]


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    dataset: str = Field(pattern=DATASET_RE.pattern, max_length=500)
    column: str = Field(min_length=1, max_length=300)
    pii_type: str = Field(
        pattern="^[A-Z][A-Z0-9_]*$", max_length=100, json_schema_extra=vocabulary("pii-types")
    )
    status: Literal["confirmed", "rejected"]


@router.post("/classifications/review", response_model=ClassificationOut)
async def review_classification(
    body: ReviewIn, services: ServicesDep, store: ClassificationsDep, caller: Steward
) -> ClassificationOut:
    """A steward confirms or rejects a column's PII type. A confirmed type overrides the catalog
    in decisions at once (every worker within the poll interval) and is sent to the lineage
    graph; a rejected suggestion does not come back with the next scan."""
    known = services.pdp.bundle.pii_types
    result = await run_in_threadpool(
        store.review,
        body.dataset,
        body.column,
        body.pii_type,
        status=body.status,
        by=caller.name,
        known_types=known,
    )
    return ClassificationOut.model_validate(result.public())
