"""The only place that knows HTTP status codes: errors become RFC 9457 problem+json.

Domain errors map to their status; validation errors carry the path of every bad field;
anything unexpected is logged with its traceback on the server and answered with a plain 500
that names a correlation id, never the traceback.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError as DBAPIInterfaceError
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from governance.errors import (
    AccessDenied,
    Conflict,
    GovernanceError,
    IntegrityError,
    InvalidInput,
    InvalidPolicy,
    MalformedInput,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unauthenticated,
    Unavailable,
)

log = logging.getLogger(__name__)

PROBLEM_TYPE = "urn:governance:problem:"
PROBLEM_JSON = "application/problem+json"

_STATUS: list[tuple[type[GovernanceError], int, str]] = [
    (PayloadTooLarge, 413, "payload-too-large"),
    (MalformedInput, 400, "malformed"),
    (InvalidInput, 422, "invalid-input"),
    (InvalidPolicy, 422, "invalid-policy"),
    (NotFound, 404, "not-found"),
    (Conflict, 409, "conflict"),
    (Unauthenticated, 401, "unauthenticated"),
    (AccessDenied, 403, "forbidden"),
    (RateLimited, 429, "rate-limited"),
    (Unavailable, 503, "unavailable"),
    (IntegrityError, 409, "integrity"),
]


def problem(
    status: int,
    title: str,
    detail: str,
    slug: str,
    *,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    body.update(extensions)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def status_of(exc: GovernanceError) -> tuple[int, str]:
    for cls, status, slug in _STATUS:
        if isinstance(exc, cls):
            return status, slug
    return 500, "error"


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out


async def governance_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GovernanceError)
    status, slug = status_of(exc)
    headers: dict[str, str] = {}
    extensions: dict[str, Any] = {}
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(max(1, int(exc.retry_after + 0.999)))
    if isinstance(exc, InvalidInput) and exc.problems:
        extensions["errors"] = [{"loc": _loc(p.loc), "msg": p.msg} for p in exc.problems]
    if isinstance(exc, InvalidPolicy) and exc.findings:
        extensions["errors"] = list(exc.findings)
    if isinstance(exc, Unavailable):
        headers["Retry-After"] = "5"
        if exc.incident:
            extensions["incident"] = exc.incident
        # the cause was logged where it happened (with this incident id); say what was answered
        log.warning(
            "answered 503 on %s %s: %s (incident %s)",
            _request.method,
            _request.url.path,
            exc.detail,
            exc.incident or "-",
        )
    return problem(status, exc.title, exc.detail, slug, headers=headers or None, **extensions)


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    malformed = None
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            ctx = err.get("ctx") or {}
            malformed = f"the body is not valid JSON: {ctx.get('error', 'parse error')}"
            continue
        errors.append(
            {"loc": _loc(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type")}
        )
    if malformed:
        return problem(400, "Malformed request", malformed, "malformed")
    first = errors[0] if errors else {"loc": "body", "msg": "invalid"}
    return problem(
        422,
        "Invalid input",
        f"{first['loc']}: {first['msg']}",
        "invalid-input",
        errors=errors,
    )


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    error = getattr(exc, "error", None)  # a body refused while FastAPI parsed it
    if isinstance(error, GovernanceError):
        return await governance_error(request, error)
    titles = {
        400: ("Bad request", "malformed"),
        404: ("Not found", "not-found"),
        405: ("Method not allowed", "method-not-allowed"),
        413: ("Payload too large", "payload-too-large"),
    }
    title, slug = titles.get(exc.status_code, ("HTTP error", f"http-{exc.status_code}"))
    headers = dict(exc.headers) if exc.headers else {}
    if exc.status_code == 405:
        allowed = _allowed_methods(request)
        headers["Allow"] = ", ".join(allowed)
        detail = f"{request.method} is not served here; use {' or '.join(allowed)}"
    else:
        detail = str(exc.detail)
    return problem(exc.status_code, title, detail, slug, headers=headers or None)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path: Starlette's own 405 names only those of
    the first route that matched the path, and a path with GET and POST routes has two."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


async def database_error(request: Request, exc: Exception) -> JSONResponse:
    """A database that is locked, gone or out of connections: a 503 with an incident id (the
    cause is logged here, without statement parameters, which the engines hide)."""
    incident = uuid.uuid4().hex[:12]
    log.error(
        "incident %s: database unavailable on %s %s: %s",
        incident,
        request.method,
        request.url.path,
        str(exc)[:500],
    )
    return await governance_error(
        request,
        Unavailable("the database is busy or unavailable right now; retry shortly", incident),
    )


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    incident = uuid.uuid4().hex[:12]
    log.error(
        "unhandled error %s on %s %s",
        incident,
        request.method,
        request.url.path,
        exc_info=(type(exc), exc, exc.__traceback__),
    )
    return problem(
        500,
        "Internal error",
        f"the request failed unexpectedly; the server log has incident {incident}",
        "internal",
        incident=incident,
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(GovernanceError, governance_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(OperationalError, database_error)
    app.add_exception_handler(DBAPIInterfaceError, database_error)
    app.add_exception_handler(Exception, unexpected_error)
