"""The decision service: decide, then record the decision (and the access's lineage) durably.

Three hops from the route: the route validates an ``AccessRequest``; the PDP decides; this
service appends the audit record and the OpenLineage event of the access in one SQL transaction
and only then answers. If the record cannot be written the caller gets ``Unavailable``, never an
unrecorded allow.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from governance import __version__
from governance.audit import AuditEntry
from governance.errors import InvalidInput, Unavailable
from governance.pdp.decision import AccessRequest, Decision, Effect
from governance.pdp.engine import PolicyDecisionPoint
from governance.recorder import DecisionRecorder
from governance.timestamps import iso

log = logging.getLogger(__name__)

PRODUCER = f"https://github.com/omnishop-data/governance/tree/v{__version__}"
FACETS_BASE = "https://omnishop-data.github.io/governance/spec/facets/1-0-0"
RUN_EVENT_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
ACCESS_NAMESPACE = "governance.access"
WRITE_ACTIONS = frozenset({"write", "delete"})


@dataclass(frozen=True)
class RecordedDecision:
    decision: Decision
    decision_id: str
    seq: int


class _IdPool(threading.local):
    """Random bytes for decision ids, read from the OS 4 KiB at a time, per thread."""

    buf = b""
    pos = 0


_ids = _IdPool()
_CLEAR_VERSION = ~((0xF000 << 64) | (0xC000 << 48))
_VERSION_4 = (0x4000 << 64) | (0x8000 << 48)


def _forget_ids() -> None:
    global _ids
    _ids = _IdPool()  # a forked child must never hand out its parent's ids


os.register_at_fork(after_in_child=_forget_ids)


def new_decision_id() -> str:
    """A random (version 4) UUID as text, like ``str(uuid.uuid4())`` at a third of its cost:
    that makes a system call and a ``UUID`` object per id (4 % of a decision's CPU)."""
    ids = _ids
    pos = ids.pos
    if pos >= len(ids.buf):
        ids.buf, pos = os.urandom(4096), 0
    ids.pos = pos + 16
    h = "%032x" % ((int.from_bytes(ids.buf[pos : pos + 16]) & _CLEAR_VERSION) | _VERSION_4)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def split_dataset(dataset: str) -> tuple[str, str]:
    namespace, _, name = dataset.partition("/")
    return namespace, name


def access_event(
    request: AccessRequest, decision: Decision, decision_id: str, at: datetime
) -> dict[str, Any]:
    """The allowed access as an OpenLineage RunEvent: the dataset read by the subject's job."""
    namespace, name = split_dataset(request.resource.dataset)
    columns = [
        {"column": o.column, "piiType": o.pii_type, "action": o.action.value}
        for o in decision.obligations
    ]
    dataset: dict[str, Any] = {
        "namespace": namespace,
        "name": name,
        "facets": {
            "governance_obligations": {
                "_producer": PRODUCER,
                "_schemaURL": f"{FACETS_BASE}/GovernanceObligationsDatasetFacet.json",
                "columns": columns,
                "rowFilter": [c.model_dump(mode="json") for c in decision.row_filter or []],
            }
        },
    }
    is_write = request.action in WRITE_ACTIONS
    return {
        "eventType": "COMPLETE",
        "eventTime": iso(at),
        "producer": PRODUCER,
        "schemaURL": RUN_EVENT_SCHEMA,
        "run": {
            "runId": decision_id,
            "facets": {
                "governance_decision": {
                    "_producer": PRODUCER,
                    "_schemaURL": f"{FACETS_BASE}/GovernanceDecisionRunFacet.json",
                    "decisionId": decision_id,
                    "subject": request.subject.id,
                    "action": request.action,
                    "purpose": request.purpose,
                    "policyVersion": decision.policy_version,
                }
            },
        },
        "job": {"namespace": ACCESS_NAMESPACE, "name": request.subject.id, "facets": {}},
        "inputs": [] if is_write else [dataset],
        "outputs": [dataset] if is_write else [],
    }


def _unrecorded(exc: BaseException) -> Unavailable:
    incident = getattr(exc, "incident", None)
    if incident is None:
        incident = uuid.uuid4().hex[:12]
        log.error(
            "incident %s: recording a decision failed: %s: %s",
            incident,
            type(exc).__name__,
            str(exc)[:500],
        )
    return Unavailable(
        "the decision could not be recorded in the audit log; treat it as a deny", incident
    )


class GateOutcome(Protocol):
    @property
    def decision(self) -> Decision: ...

    @property
    def records(self) -> tuple[int, ...]: ...


class DecisionGate(Protocol):
    """A question asked after the policy allowed (consent and opt-outs): it may turn the allow
    into a deny or narrow it with a row filter, never the other way round."""

    def check(self, request: AccessRequest, loc: tuple[str | int, ...]) -> None:
        """``InvalidInput`` for a request the gate could never judge (a malformed identifier)."""

    def applies(self, request: AccessRequest) -> bool: ...

    def apply(self, request: AccessRequest, decision: Decision, *, by: str = "") -> GateOutcome: ...


class DecisionService:
    def __init__(
        self,
        pdp: PolicyDecisionPoint,
        recorder: DecisionRecorder,
        *,
        record_lineage: bool = True,
        gate: DecisionGate | None = None,
    ) -> None:
        self._pdp = pdp
        self._recorder = recorder
        self._record_lineage = record_lineage
        self._gate = gate

    def use_gate(self, gate: DecisionGate | None) -> None:
        self._gate = gate

    def needs_io(self, requests: Sequence[AccessRequest]) -> bool:
        """Will deciding these read the database (consent), so belong off the event loop?"""
        gate = self._gate
        return gate is not None and any(gate.applies(r) for r in requests)

    def _gated(
        self, request: AccessRequest, decision: Decision, caller: str
    ) -> tuple[Decision, tuple[int, ...]]:
        gate = self._gate
        if gate is None or not decision.allowed or not gate.applies(request):
            return decision, ()
        try:
            outcome = gate.apply(request, decision, by=caller)
        except InvalidInput:
            raise
        except Exception as exc:  # consent unknown: deny
            log.exception("consent check failed; denying")
            return (
                Decision.model_construct(
                    decision=Effect.deny,
                    reason=f"denied (fail closed): consent could not be checked "
                    f"({type(exc).__name__})",
                    matched_rule=decision.matched_rule,
                    obligations=[],
                    row_filter=None,
                    policy_version=decision.policy_version,
                    decision_id="",
                ),
                (),
            )
        return outcome.decision, tuple(outcome.records)

    @property
    def pdp(self) -> PolicyDecisionPoint:
        return self._pdp

    def _prepare(
        self, requests: Sequence[AccessRequest], caller: str
    ) -> tuple[list[Decision], list[str], list[AuditEntry], list[dict[str, Any]]]:
        decisions, ids, entries, events = [], [], [], []
        gate = self._gate
        if gate is not None:
            single = len(requests) == 1
            for i, request in enumerate(requests):
                gate.check(request, ("body",) if single else ("body", "requests", i))
        now = datetime.now(UTC)
        for request in requests:
            decision, consent = self._gated(request, self._pdp.decide(request), caller)
            decision_id = new_decision_id()
            decisions.append(decision)
            ids.append(decision_id)
            entries.append(
                AuditEntry(
                    decision_id=decision_id,
                    recorded_at=now,
                    caller=caller,
                    subject=request.subject.id,
                    action=request.action,
                    dataset=request.resource.dataset,
                    purpose=request.purpose,
                    decision=decision.decision.value,
                    reason=decision.reason,
                    policy_version=decision.policy_version,
                    payload={
                        "request": request.model_dump(mode="json"),
                        "obligations": [o.model_dump(mode="json") for o in decision.obligations],
                        "row_filter": [c.model_dump(mode="json") for c in decision.row_filter]
                        if decision.row_filter
                        else None,
                        "matched_rule": decision.matched_rule,
                        "consent_records": list(consent),
                    },
                )
            )
            if self._record_lineage and decision.allowed:
                events.append(access_event(request, decision, decision_id, now))
        return decisions, ids, entries, events

    @staticmethod
    def _combine(
        decisions: list[Decision], ids: list[str], seqs: list[int]
    ) -> list[RecordedDecision]:
        return [RecordedDecision(d, i, s) for d, i, s in zip(decisions, ids, seqs, strict=True)]

    def decide_many(
        self, requests: Sequence[AccessRequest], caller: str = ""
    ) -> list[RecordedDecision]:
        decisions, ids, entries, events = self._prepare(requests, caller)
        try:
            seqs = self._recorder.record(entries, events)
        except Exception as exc:
            raise _unrecorded(exc) from exc
        return self._combine(decisions, ids, seqs)

    def decide(self, request: AccessRequest, caller: str = "") -> RecordedDecision:
        return self.decide_many([request], caller)[0]

    async def decide_many_async(
        self, requests: Sequence[AccessRequest], caller: str = ""
    ) -> list[RecordedDecision]:
        if self.needs_io(requests):
            prepared = await asyncio.to_thread(self._prepare, requests, caller)
        else:
            prepared = self._prepare(requests, caller)
        decisions, ids, entries, events = prepared
        try:
            seqs = await asyncio.wrap_future(self._recorder.submit(entries, events))
        except Exception as exc:
            raise _unrecorded(exc) from exc
        return self._combine(decisions, ids, seqs)
