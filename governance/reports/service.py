"""Reports as the API, the CLI and the demo ask for them: built from evidence, anchored to the
audit chain, signed, recorded in the audit chain (who made which report, and its hash), and
rendered as JSON, HTML or PDF."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlmodel import select

from governance.audit import AuditEntry
from governance.audit.chain import ChainHead
from governance.errors import FieldProblem, InvalidInput
from governance.models import DecisionRecord
from governance.reports import documents
from governance.reports.ai import build_ai
from governance.reports.ccpa import build_ccpa
from governance.reports.envelope import (
    ReportCheck,
    anchor_of,
    check,
    digest,
    json_bytes,
    pdf_sidecar,
    sign,
)
from governance.reports.facts import FactIndexer
from governance.reports.models import CONTENT, KINDS, TITLES, Period, ReportEnvelope
from governance.reports.render import render_html, render_pdf
from governance.reports.ropa import build_ropa
from governance.reports.sources import ReportSources
from governance.signing import Signer
from governance.timestamps import iso

FORMATS = ("json", "html", "pdf")
MEDIA = {"json": "application/json", "html": "text/html; charset=utf-8", "pdf": "application/pdf"}


@dataclass(frozen=True)
class ReportParams:
    since: datetime | None = None
    until: datetime | None = None
    model: str | None = None
    request_id: str | None = None
    dataset: str | None = None
    subject: str | None = None
    purpose: str | None = None

    def public(self) -> dict[str, Any]:
        return {
            k: iso(v) if isinstance(v, datetime) else v
            for k, v in self.__dict__.items()
            if v is not None
        }


@dataclass(frozen=True)
class Rendered:
    body: bytes
    media_type: str
    extension: str
    sidecar: bytes | None = None


class ReportService:
    def __init__(
        self,
        sources: ReportSources,
        signer: Signer,
        heads: Callable[[], Sequence[ChainHead]],
        record: Callable[[Sequence[AuditEntry]], Any],
        verify_chain: Callable[[], Any],
    ) -> None:
        self._src = sources
        self._signer = signer
        self._heads = heads
        self._record = record
        self._verify_chain = verify_chain
        self._facts = FactIndexer(sources.db)

    def start(self) -> None:
        """Index the audit trail for reports in the background (``governance.reports.facts``)."""
        self._facts.start()

    def close(self) -> None:
        self._facts.stop()

    @property
    def signer(self) -> Signer:
        return self._signer

    def build(self, kind: str, params: ReportParams, *, by: str) -> ReportEnvelope:
        if kind not in KINDS:
            raise InvalidInput(
                f"no report kind {kind!r}; kinds: {', '.join(KINDS)}",
                [FieldProblem(("path", "kind"), "unknown report kind")],
            )
        until = params.until or datetime.now(UTC)
        if params.since is not None and params.since >= until:
            raise InvalidInput(
                "the period ends before it starts: since must be before until",
                [FieldProblem(("query", "since"), "after until")],
            )
        content: BaseModel
        period: Period | None = Period(since=iso(params.since), until=iso(until))
        if kind == "ropa":
            content = build_ropa(self._src, params.since, until)
        elif kind == "ccpa":
            content = build_ccpa(self._src, until)
            period = Period(since=iso(until.replace(year=until.year - 1)), until=iso(until))
        elif kind == "ai":
            if not params.model:
                raise InvalidInput(
                    "an AI report is about one model: give model=ns/name",
                    [FieldProblem(("query", "model"), "required")],
                )
            content = build_ai(self._src, params.model, params.since, until)
        elif kind in ("dsar", "erasure"):
            if not params.request_id:
                raise InvalidInput(
                    f"a {kind} document is about one privacy request: give request_id",
                    [FieldProblem(("query", "request_id"), "required")],
                )
            build = documents.build_dsar if kind == "dsar" else documents.build_erasure
            content = build(self._src, params.request_id)
            period = None
        else:
            verification = self._verify_chain()
            content = documents.build_extract(
                self._src,
                dataset=params.dataset,
                subject=params.subject,
                purpose=params.purpose,
                since=params.since,
                until=until,
                verification={
                    "ok": verification.ok,
                    "checked": verification.checked,
                    "chains": verification.chains,
                    "checkpoints": verification.checkpoints,
                    "problem": verification.problem,
                },
            )
        bundle = self._src.bundle()
        title = TITLES[kind] + (f": {params.model}" if kind == "ai" else "")
        envelope = ReportEnvelope(
            kind=kind,
            title=title,
            generated_at=iso(datetime.now(UTC)),
            generated_by=by,
            parameters=params.public(),
            period=period,
            policy_version=bundle.version,
            anchor=anchor_of(self._heads()),
            content=content.model_dump(mode="json"),
        )
        envelope = sign(envelope, self._signer)
        self._record(
            [
                AuditEntry(
                    decision_id=str(uuid.uuid4()),
                    recorded_at=datetime.now(UTC),
                    subject=by or "unknown",
                    action=f"report:{kind}",
                    dataset="-/reports",
                    purpose="compliance_audit",
                    decision="record",
                    reason=title,
                    policy_version=bundle.version,
                    payload={
                        "kind": kind,
                        "parameters": envelope.parameters,
                        "sha256": digest(envelope),
                        "kid": envelope.signature.kid if envelope.signature else None,
                        "anchor_records": envelope.anchor.records,
                    },
                    caller=by,
                    kind="report",
                )
            ]
        )
        return envelope

    def render(self, envelope: ReportEnvelope, fmt: str) -> Rendered:
        if fmt == "json":
            return Rendered(json_bytes(envelope), MEDIA["json"], "json")
        if fmt == "html":
            return Rendered(render_html(envelope).encode(), MEDIA["html"], "html")
        if fmt == "pdf":
            pdf = render_pdf(render_html(envelope))
            return Rendered(pdf, MEDIA["pdf"], "pdf", pdf_sidecar(pdf, envelope, self._signer))
        raise InvalidInput(
            f"format {fmt!r} cannot be made here; formats: {', '.join(FORMATS)}",
            [FieldProblem(("query", "format"), "unknown format")],
        )

    def head_hash(self, chain: str, position: int) -> str | None:
        with self._src.db.session() as session:
            row = session.exec(
                select(DecisionRecord.hash).where(
                    DecisionRecord.chain == chain, DecisionRecord.chain_seq == position
                )
            ).first()
        return row

    def verify(self, data: bytes, *, sidecar: bytes | None = None) -> ReportCheck:
        keys = {k.key_id: k for k in self._signer.public_keys()}
        return check(data, keys, render_html=render_html, sidecar=sidecar, head_hash=self.head_hash)

    @staticmethod
    def schema(kind: str) -> dict[str, Any]:
        if kind not in CONTENT:
            raise InvalidInput(f"no report kind {kind!r}; kinds: {', '.join(KINDS)}")
        return CONTENT[kind].model_json_schema()
