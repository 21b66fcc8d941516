"""The audit trail, for auditors: page through decisions and verify the hash chain."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated

from fastapi import Depends, Query
from starlette.concurrency import run_in_threadpool

from governance.api.deps import ServicesDep, require
from governance.api.params import After, Limit, Since, Until
from governance.api.routing import api_router
from governance.api.schemas import AuditPageOut, AuditRecordOut, CheckpointOut, VerificationOut
from governance.audit import AuditQuery
from governance.audit.checkpoints import FileAnchorSink
from governance.callers import Caller
from governance.errors import NotFound

router = api_router(prefix="/v1/audit", tags=["audit"])
Auditor = Annotated[Caller, Depends(require("audit:read"))]


@router.get("/decisions", response_model=AuditPageOut)
async def list_decisions(
    services: ServicesDep,
    _caller: Auditor,
    subject: str | None = None,
    dataset: str | None = None,
    purpose: str | None = None,
    decision: Annotated[str | None, Query(pattern="^(allow|deny)$")] = None,
    kind: str | None = None,
    since: Since = None,
    until: Until = None,
    after: After = 0,
    limit: Limit = 100,
) -> AuditPageOut:
    """Decisions in the order they were recorded, filtered by subject, dataset, purpose,
    decision and time (`since` inclusive, `until` exclusive)."""
    query = AuditQuery(
        subject=subject,
        dataset=dataset,
        purpose=purpose,
        decision=decision,
        kind=kind,
        since=since,
        until=until,
        after_seq=after,
        limit=limit,
    )
    rows = await run_in_threadpool(services.audit.query, query)
    items = [
        AuditRecordOut(
            seq=r.seq,
            chain=r.chain,
            chain_seq=r.chain_seq,
            decision_id=r.decision_id,
            kind=r.kind,
            recorded_at=r.recorded_at,
            caller=r.caller,
            subject=r.subject,
            action=r.action,
            dataset=r.dataset,
            purpose=r.purpose,
            decision=r.decision,
            reason=r.reason,
            policy_version=r.policy_version,
            payload=json.loads(r.payload),
            hash=r.hash,
        )
        for r in rows
    ]
    next_after = items[-1].seq if len(items) == limit else None
    return AuditPageOut(items=items, next_after=next_after)


@router.get("/verify", response_model=VerificationOut)
async def verify(services: ServicesDep, _caller: Auditor) -> VerificationOut:
    """Verify every chain (links, hashes, MACs, heads) and every signed checkpoint in the
    anchor file: a record edited, deleted or reordered, or a tail cut or wiped since it was
    anchored, fails and is named."""
    result = await run_in_threadpool(services.verify_audit)
    return VerificationOut(**dataclasses.asdict(result))


@router.get("/checkpoints/latest", response_model=CheckpointOut)
async def latest_checkpoint(services: ServicesDep, _caller: Auditor) -> CheckpointOut:
    """The latest signed checkpoint of the chain heads (verify it with `GET /v1/reports/keys`)."""
    latest = services.checkpointer.last
    if latest is None:
        stored = await run_in_threadpool(
            lambda: [
                c
                for sink in services.checkpointer.sinks
                if isinstance(sink, FileAnchorSink)
                for c in sink.read()
            ]
        )
        latest = stored[-1].checkpoint if stored else None
    if latest is None:
        raise NotFound("no checkpoint has been anchored yet")
    return CheckpointOut.model_validate(latest)
