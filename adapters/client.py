"""A small client of the decision API that fails closed.

Every enforcement point in ``adapters`` asks through this. Whatever goes wrong between the
caller and the answer (the service is down, times out, answers 5xx, answers something that is
not a decision) becomes a **deny** with the reason, never an exception that a pipeline might
catch and carry on from, and never an allow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import httpx
from pydantic import ValidationError

from governance.pdp.decision import AccessRequest, Decision, Effect

if TYPE_CHECKING:
    from governance.pdp.engine import PolicyDecisionPoint

UNKNOWN_VERSION = "unknown"
NOT_A_DECISION = "the governance service answered something that is not a decision"


class Decider(Protocol):
    """What an enforcement point needs: a decision for a request (a deny on any doubt)."""

    def decide(self, subject: str, dataset: str, purpose: str, **kwargs: Any) -> Decision: ...


def denied(reason: str) -> Decision:
    return Decision(decision=Effect.deny, reason=reason, policy_version=UNKNOWN_VERSION)


class GovernanceClient:
    """``POST /v1/decide`` (and ``/v1/pii/analyze``) with a service key."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> GovernanceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @staticmethod
    def request_body(
        subject: str,
        dataset: str,
        purpose: str,
        *,
        action: str = "read",
        columns: Sequence[str] | None = None,
        context: Mapping[str, Any] | None = None,
        roles: Sequence[str] | None = None,
        subject_attributes: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "subject": {"id": subject, "attributes": dict(subject_attributes or {})},
            "action": action,
            "resource": {"dataset": dataset},
            "purpose": purpose,
            "context": dict(context or {}),
        }
        if roles is not None:
            body["subject"]["roles"] = list(roles)
        if columns is not None:
            body["resource"]["columns"] = [str(c) for c in columns]
        return body

    def decide(self, subject: str, dataset: str, purpose: str, **kwargs: Any) -> Decision:
        """The decision, or a deny saying why there is none."""
        body = self.request_body(subject, dataset, purpose, **kwargs)
        try:
            response = self._http.post("/v1/decide", json=body)
        except httpx.HTTPError as exc:
            return denied(f"governance service unreachable ({type(exc).__name__}): fail closed")
        return self._decision(response)

    def decide_batch(self, requests: Sequence[Mapping[str, Any]]) -> list[Decision]:
        """Answers in order; if the call fails, every one is a deny."""
        try:
            response = self._http.post("/v1/decide/batch", json={"requests": list(requests)})
        except httpx.HTTPError as exc:
            reason = f"governance service unreachable ({type(exc).__name__}): fail closed"
            return [denied(reason) for _ in requests]
        if response.status_code != 200:
            reason = self._problem(response)
            return [denied(reason) for _ in requests]
        try:
            answers = response.json()["decisions"]
            return [Decision.model_validate(a) for a in answers]
        except (ValueError, KeyError, TypeError, ValidationError):
            return [denied(NOT_A_DECISION) for _ in requests]

    def analyze(self, text: str, *, entities: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Presidio-shaped findings for ``text``; raises on failure (there is no safe default)."""
        body: dict[str, Any] = {"text": text, "language": "en"}
        if entities:
            body["entities"] = list(entities)
        response = self._http.post("/v1/pii/analyze", json=body)
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()
        return found

    def _decision(self, response: httpx.Response) -> Decision:
        if response.status_code != 200:
            return denied(self._problem(response))
        try:
            return Decision.model_validate(response.json())
        except (ValueError, ValidationError):
            return denied(NOT_A_DECISION)

    @staticmethod
    def _problem(response: httpx.Response) -> str:
        try:
            problem = response.json()
        except ValueError:
            problem = None
        detail = (
            problem.get("detail") or problem.get("title") if isinstance(problem, dict) else None
        )
        return f"governance service answered {response.status_code}: {detail or 'no detail'}"


class LocalDecider:
    """The same question asked of a ``PolicyDecisionPoint`` in this process (no HTTP, no audit
    record: for jobs that embed the policy, and for tests of the enforcement points)."""

    def __init__(self, pdp: PolicyDecisionPoint) -> None:
        self.pdp = pdp

    def decide(self, subject: str, dataset: str, purpose: str, **kwargs: Any) -> Decision:
        body = GovernanceClient.request_body(subject, dataset, purpose, **kwargs)
        try:
            return self.pdp.decide(AccessRequest.model_validate(body))
        except ValidationError as exc:
            return denied(f"invalid request: {exc.errors()[0].get('msg', 'invalid')}")
