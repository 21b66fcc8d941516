"""How every route reads its body, and how every route's errors are documented.

``GovernedRoute`` makes FastAPI decode JSON bodies with ``governance.payloads.decode_json``
(orjson; NaN, Infinity, lone surrogates, NUL and deep nesting refused) instead of the
standard library's permissive ``json.loads``. ``document_problems`` adds the RFC 9457 problem
responses every route can give to the OpenAPI document, so the document is the contract.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any
from urllib.parse import unquote

from fastapi import FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, APIRouter
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from governance.api.vocabulary import VocabularySource, substitute
from governance.errors import GovernanceError
from governance.payloads import decode_json


class BodyRefused(HTTPException):
    """Carries a domain error out of FastAPI's body parsing (which re-raises HTTPExceptions
    and turns anything else into an anonymous 400); the error handlers unwrap it."""

    def __init__(self, error: GovernanceError) -> None:
        super().__init__(400, error.detail)
        self.error = error


class _JsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            try:
                self._json = decode_json(await self.body())
            except GovernanceError as exc:
                raise BodyRefused(exc) from None
        return self._json


class GovernedRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def governed(request: Request) -> Response:
            return await handler(_JsonRequest(request.scope, request.receive))

        return governed


def api_router(**kwargs: Any) -> APIRouter:
    """An ``APIRouter`` whose routes decode bodies the governed way."""
    return APIRouter(route_class=GovernedRoute, **kwargs)


# ---- the problem responses in the OpenAPI document ----------------------------------------------


class ProblemError(BaseModel):
    loc: str = Field(description="Path of the field, e.g. `body.subject.id` or `query.after`.")
    msg: str
    type: str | None = None


class Problem(BaseModel):
    """RFC 9457 problem details, as every error of this API is answered."""

    type: str = Field(description="`urn:governance:problem:<slug>`.")
    title: str
    status: int
    detail: str
    errors: list[ProblemError | str] | None = Field(
        None, description="Each invalid field (validation), or each policy finding."
    )
    incident: str | None = Field(None, description="Correlation id of an internal error.")
    request_id: str | None = Field(None, description="The request's X-Request-ID.")


PROBLEM_STATUSES: dict[int, str] = {
    400: "Malformed request: not JSON, a bad query, two Authorization headers",
    401: "No API key, or a key that does not verify",
    403: "The caller's role, or the principals its key acts for, do not allow this",
    404: "Not found",
    413: "The body, batch or text is too large",
    422: "Invalid input; `errors` names each field",
    429: "Rate limited; see Retry-After",
    503: "A dependency is unavailable; a decision is then a deny",
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "The resource is not in a state that allows this (the detail says why)"}
}
PUBLIC_PATHS = frozenset({"/health", "/metrics", "/v1/reports/keys"})


def document_problems(
    app: FastAPI,
    vocabularies: VocabularySource | None = None,
    components: Callable[[], Mapping[str, Any]] | None = None,
) -> None:
    """Generate the OpenAPI document once, with the problem responses on every operation; the
    policy's vocabularies (``governance.api.vocabulary``) are filled in per policy version.
    ``components`` adds schemas that routes reference by hand (the OpenLineage request body)."""
    served: dict[str, dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        base = static()
        current = vocabularies() if vocabularies is not None else None
        if current is None:
            return base
        version, words = current
        if version not in served:
            served.clear()
            served[version] = substitute(base, words)
        return served[version]

    def static() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        if components is not None:
            schemas.update(components())
        problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(problem.pop("$defs", {}))
        schemas["Problem"] = problem
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        reference = {"$ref": "#/components/schemas/Problem"}
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                statuses = (
                    {400: PROBLEM_STATUSES[400], 503: PROBLEM_STATUSES[503]}
                    if path in PUBLIC_PATHS
                    else PROBLEM_STATUSES
                )
                for status, description in statuses.items():
                    responses[str(status)] = {
                        "description": description,
                        "content": {"application/problem+json": {"schema": reference}},
                    }
                for status, response in responses.items():  # a route's own, e.g. its 409
                    if status.isdigit() and int(status) >= 400:
                        response["content"] = {"application/problem+json": {"schema": reference}}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


# ---- URL-encoded path segments -------------------------------------------------------------------


class EncodedSegments:
    """Keeps an encoded ``/`` inside its path segment under the Marquez namespace routes.

    Servers decode the path before routing, so ``/api/v1/namespaces/s3%3A%2F%2Fbucket/datasets``
    would route as five segments. Below ``prefix`` the path is rebuilt from the raw one with each
    segment decoded except ``%`` and ``/``; handlers ``unquote`` their segment parameters.
    """

    def __init__(self, app: ASGIApp, prefix: str = "/api/v1/namespaces/") -> None:
        self.app = app
        self.prefix = prefix
        self.raw_prefix = prefix.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            raw = scope.get("raw_path") or b""
            if raw.startswith(self.raw_prefix):
                tail = raw[len(self.raw_prefix) :].decode("latin-1")
                segments = [
                    unquote(s).replace("%", "%25").replace("/", "%2F") for s in tail.split("/")
                ]
                scope = {**scope, "path": self.prefix + "/".join(segments)}
        await self.app(scope, receive, send)
