"""FastAPI dependencies: the services, the authenticated caller and permission checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Annotated

import casbin
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from governance.callers import Caller
from governance.errors import AccessDenied, MalformedInput, NotFound, Unauthenticated
from governance.pii.classifications import ClassificationStore
from governance.pii.service import PiiService
from governance.services import Services
from governance.subjects.service import SubjectServices
from lineage.service import LineageServices

_ACCESS_DIR = Path(__file__).resolve().parent / "access"
_bearer = HTTPBearer(auto_error=False, description="An API key from `governance keys create`.")


class ApiAccess:
    """The service's own Casbin policy: which caller role holds which permission."""

    def __init__(self, directory: Path = _ACCESS_DIR) -> None:
        self._enforcer = casbin.Enforcer(
            str(directory / "model.conf"), str(directory / "policy.csv")
        )
        self._cache: dict[tuple[str, str], bool] = {}

    def allows(self, role: str, permission: str) -> bool:
        key = (role, permission)
        hit = self._cache.get(key)
        if hit is None:
            hit = bool(self._enforcer.enforce(role, permission))
            self._cache[key] = hit
        return hit


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def _lineage(services: ServicesDep) -> LineageServices:
    # async: FastAPI runs a plain def dependency on the thread pool, a hop per lineage request
    if services.lineage is None:
        raise NotFound("lineage is not enabled in this service")
    return services.lineage


def _pii(services: ServicesDep) -> PiiService:
    if services.pii is None:
        raise NotFound("PII protection is not enabled in this service")
    return services.pii


def _classifications(services: ServicesDep) -> ClassificationStore:
    if services.classifications is None:
        raise NotFound("classifications are not enabled in this service")
    return services.classifications


def _subjects(services: ServicesDep) -> SubjectServices:
    if services.subjects is None:
        raise NotFound("data subject rights are not enabled in this service")
    return services.subjects


LineageDep = Annotated["LineageServices", Depends(_lineage)]
SubjectsDep = Annotated["SubjectServices", Depends(_subjects)]
PiiDep = Annotated["PiiService", Depends(_pii)]
ClassificationsDep = Annotated["ClassificationStore", Depends(_classifications)]


async def authenticate(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    if len(request.headers.getlist("authorization")) > 1:
        # proxies and frameworks disagree on which of two headers wins: refuse to guess
        raise MalformedInput("send exactly one Authorization header")
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("this endpoint needs 'Authorization: Bearer <API key>'")
    token = credentials.credentials
    cached = services.keys.cached(token)
    if cached is not None:
        return cached
    return await run_in_threadpool(services.keys.verify, token)


CallerDep = Annotated[Caller, Depends(authenticate)]


def require(permission: str) -> Callable[..., Awaitable[Caller]]:
    """A dependency that lets through only callers whose role holds ``permission``."""

    async def check(request: Request, caller: CallerDep) -> Caller:
        access: ApiAccess = request.app.state.access
        if not access.allows(caller.role.value, permission):
            raise AccessDenied(f"the {caller.role.value} role may not use {permission}")
        request.app.state.rate_limiter.check(caller.key_id)
        return caller

    return check


def require_principals(caller: Caller, subjects: Iterable[str]) -> None:
    """Refuse (403) a request naming a subject the caller's key is not bound to act for."""
    for subject in subjects:
        if not caller.may_act_for(subject):
            bound = ", ".join(caller.acts_for) or "nobody"
            raise AccessDenied(
                f"this key acts for {bound}; it may not ask about {subject} "
                "(an administrator binds keys with 'governance keys bind')"
            )
