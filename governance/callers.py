"""Callers of the API and their keys.

A key looks like ``gov_<id>_<secret>``. Only SHA-256 of the secret is stored (the secret is 256
random bits, so a slow KDF adds nothing); it is compared in constant time. The plaintext key is
returned once, by ``create``. Verified keys are trusted for a few seconds, so revocation takes
effect within ``key_cache_seconds``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy.exc import IntegrityError as SAIntegrityError
from sqlmodel import col, select

from governance.db import Database
from governance.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from governance.models import ApiKey

PREFIX = "gov_"


class CallerRole(StrEnum):
    service = "service"
    auditor = "auditor"
    steward = "steward"
    admin = "admin"


@dataclass(frozen=True)
class Caller:
    key_id: str
    name: str
    role: CallerRole


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKeys:
    def __init__(self, db: Database, *, cache_seconds: float = 5.0) -> None:
        self._db = db
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[Caller, float]] = {}
        self._lock = threading.Lock()

    def create(self, name: str, role: str) -> tuple[Caller, str]:
        """Create a key; the returned plaintext is never stored and cannot be shown again."""
        try:
            caller_role = CallerRole(role)
        except ValueError as exc:
            roles = ", ".join(r.value for r in CallerRole)
            raise InvalidInput(f"role must be one of {roles}") from exc
        if not name or len(name) > 200:
            raise InvalidInput("name must be 1 to 200 characters")
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        row = ApiKey(
            id=key_id,
            name=name,
            role=caller_role.value,
            secret_hash=_digest(secret),
            created_at=datetime.now(UTC),
        )
        try:
            with self._db.session() as session:
                session.add(row)
                session.commit()
        except SAIntegrityError as exc:
            raise Conflict(f"a key named {name!r} already exists") from exc
        return Caller(key_id, name, caller_role), f"{PREFIX}{key_id}_{secret}"

    def cached(self, token: str) -> Caller | None:
        """The caller of a recently verified token, without touching the database."""
        hit = self._cache.get(_digest(token))
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        return None

    def verify(self, token: str) -> Caller:
        """The caller a bearer token belongs to, or ``Unauthenticated``."""
        cache_key = _digest(token)
        now = time.monotonic()
        hit = self._cache.get(cache_key)
        if hit is not None and hit[1] > now:
            return hit[0]
        if not token.startswith(PREFIX) or token.count("_") < 2:
            raise Unauthenticated("malformed API key")
        key_id, _, secret = token[len(PREFIX) :].partition("_")
        with self._db.session() as session:
            row = session.get(ApiKey, key_id)
        # compare even when the id is unknown, so timing does not reveal which ids exist
        stored = row.secret_hash if row is not None else "0" * 64
        matches = hmac.compare_digest(stored, _digest(secret))
        if row is None or not matches or row.revoked_at is not None:
            raise Unauthenticated("unknown or revoked API key")
        caller = Caller(row.id, row.name, CallerRole(row.role))
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[cache_key] = (caller, now + self._cache_seconds)
        return caller

    def revoke(self, name: str) -> None:
        with self._db.session() as session:
            row = session.exec(select(ApiKey).where(ApiKey.name == name)).first()
            if row is None:
                raise NotFound(f"no key named {name!r}")
            row.revoked_at = datetime.now(UTC)
            session.add(row)
            session.commit()
        with self._lock:
            self._cache.clear()

    def list(self) -> list[ApiKey]:
        with self._db.session() as session:
            return list(session.exec(select(ApiKey).order_by(col(ApiKey.created_at))).all())
