"""Data subject rights as the API, the CLI and the demo use them: one object, built once by the
composition root (``governance.services``), over the stores of this package."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from governance.audit import AuditLog
from governance.errors import Conflict, InvalidInput
from governance.pdp.catalog import Catalog, Purpose
from governance.pdp.decision import AccessRequest, ResourceRef, SubjectRef
from governance.subjects.access import AccessResult, build_access_result
from governance.subjects.consent import (
    WITHDRAWN,
    ConsentGate,
    ConsentStore,
    NewConsent,
)
from governance.subjects.erasure import Eraser, ErasurePlan, Receipt, StepPermission, make_plan
from governance.subjects.identifiers import SubjectKeys
from governance.subjects.requests import PrivacyRequests, RequestView
from governance.subjects.search import SubjectSearch

Decide = Callable[[AccessRequest, str], Any]
"""Decides (and records) one request; returns an object with ``.decision`` (the PDP path)."""


@dataclass
class SubjectServices:
    keys: SubjectKeys
    consents: ConsentStore
    gate: ConsentGate
    requests: PrivacyRequests
    search: SubjectSearch
    eraser: Eraser
    audit: AuditLog
    catalog: Callable[[], Catalog]
    purposes: Callable[[], Mapping[str, Purpose]]

    def close(self) -> None:
        self.search.connections.close()
        self.consents.close()

    # ---- access -----------------------------------------------------------------------------

    def _ready(self, request_id: str, kind: str) -> RequestView:
        view = self.requests.get(request_id)
        if view.kind != kind:
            raise Conflict(f"request {request_id} is a {view.kind} request, not {kind}")
        if view.status == "received":
            raise Conflict(
                "verify the requester's identity first (status verified), as GDPR Art. 12(6) "
                "and CCPA regs §7060 require"
            )
        if view.status in ("completed", "denied") and kind != "erasure":
            raise Conflict(f"request {request_id} is {view.status}")
        return view

    def access(
        self,
        request_id: str,
        *,
        include_values: bool,
        by: str,
        datasets: Sequence[str] | None = None,
    ) -> AccessResult:
        """Search everything (or only ``datasets``) for the subject and keep the result
        (sealed) on the request."""
        view = self._ready(request_id, "access")
        subject = self.requests.identifiers(request_id)
        identifiers = self.keys.identifiers(subject)
        found = self.search.find(identifiers, subject.items(), datasets)
        consents = [c for i in identifiers for c in self.consents.history(i)]
        result = build_access_result(
            found,
            catalog=self.catalog(),
            purposes=self.purposes(),
            audit=self.audit,
            lineage=self.search.lineage,
            consents=sorted(consents, key=lambda c: c.id),
            identifier_kinds=list(view.identifier_kinds),
            include_values=include_values,
            request_id=request_id,
        )
        self.requests.save_result(request_id, {"access": result.model_dump(mode="json")})
        if view.status == "verified":
            self.requests.transition(request_id, "in_progress", by=by)
        self.requests.record_step(
            request_id,
            "access:search",
            by,
            {
                "summary": f"found in {len(result.datasets)} dataset(s), "
                f"{len(result.models)} model(s)",
                "datasets": [d.dataset for d in result.datasets],
                "models": [m.model for m in result.models],
                "values_included": include_values,
            },
        )
        return result

    def stored_access(self, request_id: str) -> AccessResult | None:
        stored = self.requests.result(request_id) or {}
        raw = stored.get("access")
        return AccessResult.model_validate(raw) if raw else None

    # ---- erasure ----------------------------------------------------------------------------

    def plan_erasure(self, request_id: str, *, by: str) -> ErasurePlan:
        """Find the subject everywhere and store the plan to show (execution needs its digest)."""
        view = self._ready(request_id, "erasure")
        if view.status in ("completed", "denied"):
            raise Conflict(f"request {request_id} is {view.status}")
        subject = self.requests.identifiers(request_id)
        identifiers = self.keys.identifiers(subject)
        found = self.search.find(identifiers, subject.items())
        if found.errors:
            first = next(iter(sorted(found.errors.items())))
            raise InvalidInput(
                f"{len(found.errors)} source(s) could not be searched, so no complete plan can "
                f"be made; first: {first[0]}: {first[1]}"
            )
        plan = make_plan(request_id, found, self.catalog(), self.search.lineage)
        self.requests.save_result(
            request_id, {"plan": plan.model_dump(mode="json")}, plan_digest=plan.digest
        )
        if view.status == "verified":
            self.requests.transition(request_id, "in_progress", by=by)
        self.requests.record_step(
            request_id,
            "erasure:plan",
            by,
            {
                "summary": f"{len(plan.steps)} step(s), digest {plan.digest[:16]}",
                "digest": plan.digest,
                "steps": [s.model_dump(mode="json") for s in plan.steps],
            },
        )
        return plan

    def stored_plan(self, request_id: str) -> ErasurePlan | None:
        stored = self.requests.result(request_id) or {}
        raw = stored.get("plan")
        return ErasurePlan.model_validate(raw) if raw else None

    def erase(
        self,
        request_id: str,
        digest: str,
        *,
        principal: str,
        by: str,
        decide: Decide,
        context: Mapping[str, Any] | None = None,
    ) -> list[Receipt]:
        """Execute the plan that was shown (named by its digest), step by step; each step is a
        decision (``delete`` for ``data_subject_request`` by ``principal``), recorded."""
        view = self.requests.get(request_id)
        if view.kind != "erasure":
            raise Conflict(f"request {request_id} is a {view.kind} request, not erasure")
        plan = self.stored_plan(request_id)
        if plan is None or view.plan_digest is None:
            raise Conflict("no erasure plan was made for this request: make and show one first")
        if digest != view.plan_digest or digest != plan.digest:
            raise Conflict(
                f"the plan shown was {view.plan_digest[:16]}…, not {digest[:16]}…: show the "
                "current plan and confirm that one"
            )
        subject = self.requests.identifiers(request_id)
        identifiers = self.keys.identifiers(subject)

        def authorize(step: Any) -> StepPermission:
            if step.action == "model":
                return StepPermission(True, "no data is deleted for a model")
            request = AccessRequest(
                subject=SubjectRef(id=principal),
                action="delete",
                resource=ResourceRef(dataset=step.dataset),
                purpose="data_subject_request",
                context={
                    **dict(context or {}),
                    "privacy_request": request_id,
                    "step": step.step,
                },
            )
            recorded = decide(request, by)
            decision = recorded.decision
            return StepPermission(decision.allowed, decision.reason)

        def record(receipt: Receipt) -> None:
            self.requests.record_step(
                request_id,
                f"erasure:{receipt.action}",
                by,
                {
                    "summary": f"step {receipt.step} {receipt.status}: {receipt.rows_erased} "
                    f"row(s) erased, {receipt.check}",
                    "dataset": receipt.dataset,
                    "receipt": receipt.model_dump(mode="json"),
                },
            )

        receipts = self.eraser.execute(
            plan, identifiers, subject.items(), authorize, on_step=record
        )
        done = {r.step for r in receipts if r.status in ("done", "exempt")}
        if all(s.step in done for s in plan.steps) and view.status != "completed":
            if view.status == "verified":
                self.requests.transition(request_id, "in_progress", by=by)
            self.requests.transition(
                request_id,
                "completed",
                by=by,
                reason=f"erased per plan {digest[:16]}; {len(receipts)} receipt(s)",
            )
        return receipts

    # ---- opt-out ----------------------------------------------------------------------------

    def opt_out(self, request_id: str, *, by: str) -> list[int]:
        """A CCPA opt-out request: record withdrawals of sale and sharing for the subject."""
        view = self._ready(request_id, "opt_out")
        subject = self.requests.identifiers(request_id)
        ids: list[int] = []
        for right in ("sale", "share"):
            records = self.consents.record(
                NewConsent(subject, right, WITHDRAWN, source="dsr", evidence={"request": view.id}),
                by=by,
            )
            ids += [r.id for r in records]
        if view.status == "verified":
            self.requests.transition(request_id, "in_progress", by=by)
        self.requests.transition(
            request_id, "completed", by=by, reason=f"opted out of sale and sharing ({ids})"
        )
        return ids
