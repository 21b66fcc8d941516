"""Callers of the API and their keys.

A key looks like ``gov_<id>_<secret>``. Only SHA-256 of the secret is stored (the secret is 256
random bits, so a slow KDF adds nothing); it is compared in constant time. The plaintext key is
returned once, by ``create``. Verified keys are trusted for a few seconds, so revocation takes
effect within ``key_cache_seconds``.

A key is bound to the principals it may act for (``acts_for``: ``service:churn-pipeline``,
``user:*``; Casbin's ``keyMatch`` patterns). A decision or a reidentification that names any
other subject is refused with 403 before anything is decided: one service's key cannot claim to
be a person with more rights. A key bound to nobody may act for nobody.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from casbin.util import key_match
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
    acts_for: tuple[str, ...] = ()

    def may_act_for(self, subject: str) -> bool:
        """Is ``subject`` one of the principals this key is bound to?"""
        return any(key_match(subject, pattern) for pattern in self.acts_for)


PRINCIPAL_PATTERN = re.compile(r"^(\*|(user|service|role):[A-Za-z0-9_.@\-]*\*?)$")


def parse_acts_for(value: str | Sequence[str]) -> tuple[str, ...]:
    """``service:a,user:*`` (or a list) as validated patterns; ``InvalidInput`` otherwise."""
    items = value.split(",") if isinstance(value, str) else list(value)
    out = []
    for item in items:
        pattern = item.strip()
        if not pattern:
            continue
        if not PRINCIPAL_PATTERN.match(pattern):
            raise InvalidInput(
                f"acts-for {pattern!r}: expected user:NAME, service:NAME or role:NAME, "
                "optionally ending in *, or * alone"
            )
        out.append(pattern)
    return tuple(dict.fromkeys(out))


def _stored_acts_for(text: str) -> tuple[str, ...]:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return ()  # unreadable: bound to nobody (fail closed)
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKeys:
    def __init__(self, db: Database, *, cache_seconds: float = 5.0) -> None:
        self._db = db
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[Caller, float]] = {}
        self._lock = threading.Lock()

    def create(
        self, name: str, role: str, acts_for: str | Sequence[str] = ()
    ) -> tuple[Caller, str]:
        """Create a key; the returned plaintext is never stored and cannot be shown again."""
        principals = parse_acts_for(acts_for)
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
            acts_for=json.dumps(list(principals)),
            created_at=datetime.now(UTC),
        )
        try:
            with self._db.write_session() as session:
                session.add(row)
                session.commit()
        except SAIntegrityError as exc:
            raise Conflict(f"a key named {name!r} already exists") from exc
        return Caller(key_id, name, caller_role, principals), f"{PREFIX}{key_id}_{secret}"

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
        caller = Caller(row.id, row.name, CallerRole(row.role), _stored_acts_for(row.acts_for))
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[cache_key] = (caller, now + self._cache_seconds)
        return caller

    def reissue(self, name: str, role: str, acts_for: str | Sequence[str] = ()) -> str:
        """A fresh secret for the key named ``name`` (created if missing, un-revoked if it was),
        with this role and these principals; the old secret stops working at once."""
        principals = parse_acts_for(acts_for)
        caller_role = CallerRole(role)
        secret = secrets.token_urlsafe(32)
        with self._db.write_session() as session:
            row = session.exec(select(ApiKey).where(ApiKey.name == name)).first()
            if row is None:
                session.close()
                return self.create(name, role, principals)[1]
            row.secret_hash = _digest(secret)
            row.role = caller_role.value
            row.acts_for = json.dumps(list(principals))
            row.revoked_at = None
            session.add(row)
            session.commit()
            key_id = row.id
        with self._lock:
            self._cache.clear()
        return f"{PREFIX}{key_id}_{secret}"

    def bind(self, name: str, acts_for: str | Sequence[str]) -> tuple[str, ...]:
        """Set the principals an existing key may act for (replacing what it had)."""
        principals = parse_acts_for(acts_for)
        with self._db.write_session() as session:
            row = session.exec(select(ApiKey).where(ApiKey.name == name)).first()
            if row is None:
                raise NotFound(f"no key named {name!r}")
            row.acts_for = json.dumps(list(principals))
            session.add(row)
            session.commit()
        with self._lock:
            self._cache.clear()
        return principals

    def revoke(self, name: str) -> None:
        with self._db.write_session() as session:
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
