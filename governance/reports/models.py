"""The reports as data: one pydantic model per kind, and the signed envelope around each.

Every model's JSON schema is published (``GET /v1/reports/schemas/{kind}``), so a machine can
read a report without its HTML. Renderers only ever see these models.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from governance.subjects.access import AccessResult
from governance.subjects.erasure import ErasurePlan, Receipt

Kind = Literal["ropa", "ccpa", "ai", "dsar", "erasure", "decisions"]
KINDS: tuple[str, ...] = ("ropa", "ccpa", "ai", "dsar", "erasure", "decisions")


class Period(BaseModel):
    since: str | None
    until: str | None


class Divergence(BaseModel):
    """Where practice differs from what was declared, with the evidence."""

    kind: Literal[
        "undeclared_dataset",
        "undeclared_category",
        "retention_exceeded",
        "consent_missing",
        "transfer_without_safeguard",
        "undeclared_purpose",
    ]
    purpose: str
    detail: str
    datasets: list[str] = Field(default_factory=list)
    decisions: int = 0


class FieldUse(BaseModel):
    dataset: str
    column: str
    pii_type: str
    gdpr_category: str | None
    actions: dict[str, int] = Field(description="Obligation action → decisions.")


class DatasetUse(BaseModel):
    dataset: str
    decisions: int
    first_at: str
    last_at: str
    declared: bool = Field(description="Is the dataset declared for the purpose?")
    country: str | None = None


class RecipientUse(BaseModel):
    recipient: str = Field(description="A principal of ours (user, service) or a pipeline job.")
    kind: Literal["principal", "job"]
    roles: list[str] = Field(default_factory=list)
    owner: str | None = None
    decisions: int = 0


class TransferOut(BaseModel):
    country: str
    safeguard: str


class Activity(BaseModel):
    """One processing activity (a purpose): what was declared, and what the evidence shows."""

    purpose: str
    description: str
    lawful_basis: str
    retention_days: int
    data_subjects: list[str]
    declared_categories: list[str]
    declared_datasets: list[str]
    declared_recipients: list[str]
    transfers: list[TransferOut]
    security: list[str]
    evidenced_categories: list[str]
    datasets_used: list[DatasetUse]
    fields_used: list[FieldUse]
    recipients: list[RecipientUse]
    decisions_allowed: int
    decisions_denied: int
    divergences: list[Divergence]


class ControllerOut(BaseModel):
    name: str
    address: str
    contact: str
    dpo: str
    representative: str
    country: str


class Ropa(BaseModel):
    """GDPR Art. 30(1): the record of processing activities, declarations beside evidence."""

    controller: ControllerOut
    activities: list[Activity]
    divergences: list[Divergence] = Field(description="Every divergence, all activities.")
    evidence: list[str] = Field(description="Where the evidence comes from.")


class CategoryCount(BaseModel):
    category: str = Field(description="Cal. Civ. Code §1798.140(v)(1) category key.")
    label: str
    pii_types: list[str]
    datasets: list[str]


class RequestMetric(BaseModel):
    """CCPA regs §7102(a): per kind of request, over the reporting period."""

    request: Literal["know", "delete", "correct", "opt_out"]
    received: int
    complied: int = Field(description="Completed in whole or in part.")
    denied: int
    open: int
    median_days_to_respond: float | None


class CcpaReport(BaseModel):
    """The CCPA report for the last 12 months."""

    business: ControllerOut
    collected: list[CategoryCount]
    disclosed_for_business_purpose: list[CategoryCount]
    sold: list[CategoryCount]
    shared: list[CategoryCount]
    requests: list[RequestMetric]
    notes: list[str]


class LineageNode(BaseModel):
    id: str = Field(description="`ns/name` of a dataset, or `job:ns/name`.")
    kind: Literal["dataset", "job", "model"]
    fields: list[str] = Field(default_factory=list)
    depth: int = Field(description="0 for the model, growing towards the sources.")


class LineageEdge(BaseModel):
    source: str
    target: str
    kind: Literal["dataset", "field"]
    source_field: str | None = None
    target_field: str | None = None
    transformation: str | None = None
    masking: bool = False


class TrainingColumn(BaseModel):
    dataset: str
    column: str
    pii_type: str
    special: bool
    treatment: Literal["raw", "pseudonymized", "masked", "not used", "unknown"]
    actions: dict[str, int]


class DpiaFlag(BaseModel):
    flag: Literal[
        "raw_pii_in_training",
        "special_categories",
        "purpose_mismatch",
        "large_scale_profiling",
        "transfer_without_safeguard",
    ]
    detail: str


class Art10Item(BaseModel):
    """One item of the EU AI Act's data governance duties (Art. 10(2) to (5), Annex IV
    §2(d)): the evidence found, or the gap stated plainly."""

    reference: str
    item: str
    evidence: list[str]
    gap: str | None = None


class AiReport(BaseModel):
    """One model or pipeline: its training data, how it was treated, and what is missing."""

    model: str
    model_type: str | None
    card: dict[str, Any] = Field(description="What people declared (policies/models/*.yaml).")
    training_runs: list[dict[str, Any]]
    trained_at: str | None
    lineage_nodes: list[LineageNode]
    lineage_edges: list[LineageEdge]
    source_columns: list[str] = Field(description="`ns/name.column` the training data came from.")
    columns: list[TrainingColumn]
    purposes: list[dict[str, Any]]
    decisions: dict[str, Any] = Field(description="Counts, denials, policy versions in force.")
    consent: dict[str, Any] = Field(description="The training population's consent state.")
    data_governance: list[Art10Item]
    dpia_flags: list[DpiaFlag]


class DsarDocument(BaseModel):
    """An access request's result, as handed to the person (GDPR Art. 15)."""

    request_id: str
    jurisdiction: str
    received_at: str
    completed_at: str | None
    controller: ControllerOut
    result: AccessResult


class ErasureDocument(BaseModel):
    """Proof of an erasure (GDPR Art. 17): the plan shown and a receipt per step."""

    request_id: str
    jurisdiction: str
    status: str
    received_at: str
    completed_at: str | None
    plan: ErasurePlan
    receipts: list[Receipt]
    totals: dict[str, int]


class DecisionRow(BaseModel):
    seq: int
    recorded_at: str
    subject: str
    action: str
    dataset: str
    purpose: str
    decision: str
    reason: str
    policy_version: str
    hash: str


class DecisionExtract(BaseModel):
    """The decisions for a dataset, subject or purpose over a period, and the chain's state."""

    filters: dict[str, str | None]
    decisions: list[DecisionRow]
    total: int
    truncated: bool
    verification: dict[str, Any]


CONTENT: dict[str, type[BaseModel]] = {
    "ropa": Ropa,
    "ccpa": CcpaReport,
    "ai": AiReport,
    "dsar": DsarDocument,
    "erasure": ErasureDocument,
    "decisions": DecisionExtract,
}
TITLES = {
    "ropa": "Record of processing activities (GDPR Art. 30)",
    "ccpa": "CCPA report: personal information and consumer requests, last 12 months",
    "ai": "AI pipeline report",
    "dsar": "Your personal data: the answer to your access request",
    "erasure": "Erasure receipts",
    "decisions": "Decision audit extract",
}


class Anchor(BaseModel):
    """The audit chain heads when the report was made: verification checks they are still
    in the chain (nothing the report relied on was cut since)."""

    chains: list[dict[str, Any]]
    records: int
    root: str


class Signature(BaseModel):
    kid: str
    alg: str = "Ed25519"
    value: str = Field(description="Base64 signature over the canonical JSON without it.")


class ReportEnvelope(BaseModel):
    """A report: its content, where it stands in the audit trail, and the signature."""

    kind: Kind
    title: str
    generated_at: str
    generated_by: str
    parameters: dict[str, Any]
    period: Period | None
    policy_version: str
    anchor: Anchor
    content: dict[str, Any]
    signature: Signature | None = None
