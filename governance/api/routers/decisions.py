"""The decision API: may subject S do action A on dataset R for purpose P?"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from governance.api.deps import ServicesDep, require, require_principals
from governance.api.fastlane import decision_out
from governance.api.routing import api_router
from governance.api.schemas import BatchIn, BatchOut, DecisionOut
from governance.callers import Caller
from governance.decisions import RecordedDecision
from governance.errors import FieldProblem, InvalidInput
from governance.pdp.decision import AccessRequest

router = api_router(prefix="/v1", tags=["decisions"])
Decider = Annotated[Caller, Depends(require("decisions:decide"))]


def _out(recorded: RecordedDecision) -> DecisionOut:
    return decision_out(recorded)


def _with_gpc(request: Request, body: AccessRequest) -> AccessRequest:
    """The Global Privacy Control header is the same signal as ``context.gpc: true``; it is
    folded into the context, so the audit record shows it was sent."""
    if request.headers.get("sec-gpc", "").strip() == "1" and body.context.get("gpc") is not True:
        return body.model_copy(update={"context": {**body.context, "gpc": True}})
    return body


@router.post("/decide", response_model=DecisionOut)
async def decide(
    request: Request, body: AccessRequest, services: ServicesDep, caller: Decider
) -> DecisionOut:
    """Decide one access request.

    An allow comes with obligations: what the caller must do to each column before it hands
    data on (keep, mask, encrypt, pseudonymize, hash, redact, drop) and a row filter. Every
    decision is recorded in the audit trail before this answers. Any doubt denies: a missing
    attribute, an unknown subject or an internal error answer `deny` with the reason.
    """
    require_principals(caller, [body.subject.id])
    body = _with_gpc(request, body)
    [recorded] = await services.decisions.decide_many_async([body], caller.name)
    return _out(recorded)


@router.post("/decide/batch", response_model=BatchOut)
async def decide_batch(
    request: Request, body: BatchIn, services: ServicesDep, caller: Decider
) -> BatchOut:
    """Decide up to 1,000 requests in one call; the answers come back in request order."""
    limit = services.settings.api.batch_max
    if len(body.requests) > limit:
        raise InvalidInput(
            f"a batch holds at most {limit} requests, this one has {len(body.requests)}",
            [FieldProblem(("body", "requests"), f"at most {limit} items")],
        )
    require_principals(caller, {r.subject.id for r in body.requests})
    requests = [_with_gpc(request, r) for r in body.requests]
    recorded = await services.decisions.decide_many_async(requests, caller.name)
    return BatchOut(decisions=[_out(r) for r in recorded])
