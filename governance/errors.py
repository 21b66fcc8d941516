"""The domain exceptions of the service.

Services raise only these; adapters translate driver errors (neo4j, SQLAlchemy) into them at
the boundary, and ``governance.api.errors`` is the one place that maps them to HTTP.

    GovernanceError
    ├── InvalidInput        a request or event that breaks the contract (field path in ``loc``)
    │   ├── MalformedInput  a body that does not even parse (not JSON, bad gzip)
    │   └── PayloadTooLarge a body, batch or text past the configured size
    ├── InvalidPolicy       policy files that do not load or do not lint
    ├── NotFound            a named thing that does not exist
    ├── Conflict            a write that clashes with existing state
    ├── Unauthenticated     no credentials, or credentials that do not verify
    ├── AccessDenied        credentials that verify but lack the permission
    ├── RateLimited         too many requests from one caller
    ├── Unavailable         a dependency (database, graph, model) is down right now
    └── IntegrityError      stored data failed verification (a broken audit chain)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class GovernanceError(Exception):
    """Base of every error the service raises on purpose."""

    title = "Governance error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class FieldProblem:
    """One problem in an input, with the path of the field that caused it."""

    loc: tuple[str | int, ...]
    msg: str


class InvalidInput(GovernanceError):
    title = "Invalid input"

    def __init__(self, detail: str, problems: Sequence[FieldProblem] = ()) -> None:
        super().__init__(detail)
        self.problems = tuple(problems)


class PayloadTooLarge(InvalidInput):
    title = "Payload too large"


class MalformedInput(InvalidInput):
    """A body that cannot even be parsed (not JSON, bad compression)."""

    title = "Malformed request"


class InvalidPolicy(GovernanceError):
    title = "Invalid policy"

    def __init__(self, detail: str, findings: Sequence[str] = ()) -> None:
        super().__init__(detail)
        self.findings = tuple(findings)


class NotFound(GovernanceError):
    title = "Not found"


class Conflict(GovernanceError):
    title = "Conflict"


class Unauthenticated(GovernanceError):
    title = "Unauthenticated"


class AccessDenied(GovernanceError):
    title = "Forbidden"


class RateLimited(GovernanceError):
    title = "Too many requests"

    def __init__(self, detail: str, retry_after: float) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Unavailable(GovernanceError):
    """``incident`` ties the answer to the server log line that says what failed."""

    title = "Service unavailable"

    def __init__(self, detail: str, incident: str | None = None) -> None:
        super().__init__(detail)
        self.incident = incident


class IntegrityError(GovernanceError):
    title = "Integrity check failed"
