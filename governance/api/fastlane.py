"""The decision routes' fast lane: the common call answered without FastAPI's per-call machinery.

``POST /v1/decide`` and ``/v1/decide/batch`` are the hot path. Through the full stack a call
spent more CPU in dependency solving, route matching, re-validating the response model and
Starlette's middleware than in deciding and recording (py-spy, bench/peer_opa.py). This ASGI
middleware takes a call only when it can answer exactly as the routes would: one ``Bearer`` key
already verified (in the key cache), a role allowed to decide, no rate limit configured, no
``Sec-GPC`` header, a JSON body of declared length that decodes and validates, and subjects the
key acts for. Everything else (a first call with a key, any error the routes would answer) is
handed to the routes untouched, with the body replayed, so every refusal keeps one source.
The decision itself goes the same way as from the routes (``DecisionService``): recorded
durably before the answer.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from governance.api.errors import governance_error, unexpected_error
from governance.api.schemas import BatchIn, BatchOut, DecisionOut
from governance.decisions import RecordedDecision
from governance.errors import GovernanceError
from governance.payloads import decode_json
from governance.pdp.decision import AccessRequest

log = logging.getLogger(__name__)

SINGLE = "/v1/decide"
BATCH = "/v1/decide/batch"
PERMISSION = "decisions:decide"
_JSON_HEADERS = [(b"content-type", b"application/json")]
_DECISION_JSON = DecisionOut.__pydantic_serializer__
_BATCH_JSON = BatchOut.__pydantic_serializer__


def decision_out(recorded: RecordedDecision) -> DecisionOut:
    """The answer as the API shows it (built without re-validating the PDP's own values)."""
    d = recorded.decision
    return DecisionOut.model_construct(
        decision=d.decision,
        reason=d.reason,
        matched_rule=d.matched_rule,
        obligations=d.obligations,
        row_filter=d.row_filter,
        policy_version=d.policy_version,
        decision_id=recorded.decision_id,
    )


class DecisionFastLane:
    """ASGI middleware: answers the decision routes' common case itself, hands on the rest."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path")
        if (
            scope["type"] != "http"
            or (path != SINGLE and path != BATCH)
            or scope["method"] != "POST"
        ):
            await self.app(scope, receive, send)
            return
        prepared = self._admit(scope)
        if prepared is None:
            await self.app(scope, receive, send)
            return
        services, caller, length = prepared
        body, complete = await _read(receive, length)
        if complete:
            requests = self._requests(path, body, caller, services)
            if requests is not None:
                await self._answer(scope, send, services, requests, caller.name, path)
                return
        await self.app(scope, _replay(body, receive, complete), send)

    @staticmethod
    def _admit(scope: Scope) -> tuple[Any, Any, int] | None:
        """The services, the caller and the body's length, when the headers allow the lane."""
        authorization: bytes | None = None
        length = -1
        json_body = False
        for name, value in scope["headers"]:
            if name == b"authorization":
                if authorization is not None:
                    return None  # two headers: the routes refuse it
                authorization = value
            elif name == b"content-length":
                length = int(value) if value.isdigit() else -1
            elif name == b"content-type":
                json_body = value.split(b";", 1)[0].strip().lower() == b"application/json"
            elif name == b"sec-gpc" or name == b"transfer-encoding":
                return None
        if authorization is None or length < 0 or not json_body:
            return None
        scheme, _, token = authorization.partition(b" ")
        if scheme.lower() != b"bearer" or not token:
            return None
        state: Any = getattr(scope.get("app"), "state", None)
        services = getattr(state, "services", None)
        if services is None or state.rate_limiter.enabled:
            return None
        caller = services.keys.cached(token.decode("latin-1"))
        if caller is None or not state.access.allows(caller.role.value, PERMISSION):
            return None
        return services, caller, length

    @staticmethod
    def _requests(path: str, body: bytes, caller: Any, services: Any) -> list[AccessRequest] | None:
        """The validated requests, or None for anything the routes must answer."""
        try:
            value = decode_json(body)
            if path == SINGLE:
                requests = [AccessRequest.model_validate(value)]
            else:
                requests = BatchIn.model_validate(value).requests
                if len(requests) > services.settings.api.batch_max:
                    return None
        except (GovernanceError, ValidationError, ValueError):
            return None
        for request in requests:
            if not caller.may_act_for(request.subject.id):
                return None
        return requests

    @staticmethod
    async def _answer(
        scope: Scope,
        send: Send,
        services: Any,
        requests: list[AccessRequest],
        caller: str,
        path: str,
    ) -> None:
        try:
            recorded = await services.decisions.decide_many_async(requests, caller)
        except Exception as exc:  # answered as the routes' error handlers answer it
            request = Request(scope)
            handler = governance_error if isinstance(exc, GovernanceError) else unexpected_error
            response = await handler(request, exc)
            await response(scope, _no_body, send)
            return
        if path == SINGLE:
            body = _DECISION_JSON.to_json(decision_out(recorded[0]))
        else:
            out = BatchOut.model_construct(decisions=[decision_out(r) for r in recorded])
            body = _BATCH_JSON.to_json(out)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def _read(receive: Receive, length: int) -> tuple[bytes, bool]:
    """The body, and whether it arrived whole (a disconnect or an oversize body is not)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), size == length


def _replay(body: bytes, receive: Receive, complete: bool) -> Receive:
    """A ``receive`` that gives the body already read, then the connection's own messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": not complete}
        return await receive()

    return replay


async def _no_body() -> Message:
    return {"type": "http.disconnect"}
