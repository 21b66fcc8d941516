"""Health, and the policy lifecycle for data stewards."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from starlette.concurrency import run_in_threadpool

from governance import __version__
from governance.api.deps import ServicesDep, require
from governance.api.routing import api_router
from governance.api.schemas import PolicyStatusOut, RejectionOut, ReloadOut
from governance.callers import Caller

router = api_router(tags=["admin"])
StewardRead = Annotated[Caller, Depends(require("policy:read"))]
StewardReload = Annotated[Caller, Depends(require("policy:reload"))]


@router.get("/health")
async def health(services: ServicesDep) -> dict[str, Any]:
    """Liveness and the policy version in service. Needs no key."""
    return {"status": "ok", "version": __version__, "policy_version": services.pdp.version}


@router.get("/v1/policy/status", response_model=PolicyStatusOut)
async def policy_status(services: ServicesDep, _caller: StewardRead) -> PolicyStatusOut:
    """The policy version in service, its files, and the last rejected edit (if any)."""
    s = services.pdp.status()
    rejection = None
    if s.last_rejection is not None:
        rejection = RejectionOut(
            at=s.last_rejection.at,
            version=s.last_rejection.version,
            errors=list(s.last_rejection.errors),
        )
    return PolicyStatusOut(
        version=s.version,
        loaded_at=s.loaded_at,
        directory=s.directory,
        files=dict(s.files),
        rules=s.rules,
        fast_path=s.fast_path,
        fast_path_disabled_reason=s.fast_path_disabled_reason,
        warnings=list(s.warnings),
        last_rejection=rejection,
        reloads=s.reloads,
    )


@router.post("/v1/policy/reload", response_model=ReloadOut)
async def policy_reload(services: ServicesDep, _caller: StewardReload) -> ReloadOut:
    """Validate the policy files now and swap them in; an invalid edit is rejected and the
    current version keeps serving."""
    result = await run_in_threadpool(services.pdp.reload)
    return ReloadOut(
        accepted=result.accepted,
        changed=result.changed,
        version=result.version,
        errors=list(result.errors),
    )
