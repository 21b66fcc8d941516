"""How every route reads its body, and how every route's errors are documented.

``GovernedRoute`` makes FastAPI decode JSON bodies with ``governance.payloads.decode_json``
(orjson; NaN, Infinity, lone surrogates, NUL and deep nesting refused) instead of the
standard library's permissive ``json.loads``. ``document_problems`` adds the RFC 9457 problem
responses every route can give to the OpenAPI document, so the document is the contract.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, APIRouter
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

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


def document_problems(app: FastAPI, vocabularies: VocabularySource | None = None) -> None:
    """Generate the OpenAPI document once, with the problem responses on every operation; the
    policy's vocabularies (``governance.api.vocabulary``) are filled in per policy version."""
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
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(problem.pop("$defs", {}))
        components["Problem"] = problem
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
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
