"""Request limits: body size (413) as ASGI middleware, and per-key rate limits (429)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from governance.api.errors import PROBLEM_JSON, PROBLEM_TYPE
from governance.errors import RateLimited


class BodySizeLimit:
    """Refuses bodies over the limit: at once by Content-Length, else while streaming."""

    def __init__(self, app: ASGIApp, default: int, per_path: Mapping[str, int] | None = None):
        self.app = app
        self.default = default
        self.per_path = dict(per_path or {})

    def limit_for(self, path: str) -> int:
        return self.per_path.get(path, self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > limit:
                    await _too_large(send, limit)
                    return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # an HTTPException passes through FastAPI's body parsing unchanged
                    raise HTTPException(413, f"the request body is larger than {limit} bytes")
            return message

        await self.app(scope, limited_receive, send)


async def _too_large(send: Send, limit: int) -> None:
    await _refuse(
        send,
        413,
        "payload-too-large",
        "Payload too large",
        f"the request body is larger than {limit} bytes",
    )


async def _refuse(send: Send, status: int, slug: str, title: str, detail: str) -> None:
    """A problem+json answer sent from middleware, before the app has read anything."""
    body = json.dumps(
        {"type": PROBLEM_TYPE + slug, "title": title, "status": status, "detail": detail}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class InputGuard:
    """Refuses NUL in the path or query string (400): no store can hold it, and PostgreSQL
    would fail the query with an error instead of a clean answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = bytes(scope.get("raw_path") or b"") + b"?" + bytes(scope.get("query_string", b""))
            if b"%00" in raw or b"\x00" in raw or "\x00" in scope.get("path", ""):
                await _refuse(
                    send,
                    400,
                    "malformed",
                    "Malformed request",
                    "the path or query string contains NUL (%00)",
                )
                return
        await self.app(scope, receive, send)


class RateLimiter:
    """A token bucket per caller key, in this process (each worker limits on its own)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def check(self, key: str, cost: float = 1.0) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < cost:
                self._buckets[key] = (tokens, now)
                wait = (cost - tokens) / self.rate
                raise RateLimited(f"too many requests; retry in {wait:.1f} s", retry_after=wait)
            self._buckets[key] = (tokens - cost, now)
