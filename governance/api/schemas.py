"""Bodies of the HTTP API (``XIn``/``XOut``), separate from the domain values they carry."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from governance.pdp.decision import AccessRequest, ColumnObligation, Effect, RowCondition
from governance.timestamps import UtcDatetime


class DecisionOut(BaseModel):
    decision: Effect
    reason: str = Field(description="The matched rule (file:line and text), or why it is denied.")
    matched_rule: list[str] | None = None
    obligations: list[ColumnObligation] = Field(
        description="Per column: keep, mask, encrypt, pseudonymize, hash, redact or drop."
    )
    row_filter: list[RowCondition] | None = Field(
        None, description="Conditions every returned row must meet (all of them)."
    )
    policy_version: str = Field(description="SHA-256 of the policy files that decided.")
    decision_id: str = Field(description="Id of the audit record of this decision.")


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    requests: list[AccessRequest] = Field(min_length=1, description="Up to 1,000 requests.")


class BatchOut(BaseModel):
    decisions: list[DecisionOut] = Field(description="One answer per request, in order.")


class AuditRecordOut(BaseModel):
    seq: int
    chain: str
    chain_seq: int
    decision_id: str
    kind: str
    recorded_at: UtcDatetime
    caller: str
    subject: str
    action: str
    dataset: str
    purpose: str
    decision: str
    reason: str
    policy_version: str
    payload: dict[str, Any]
    hash: str


class AuditPageOut(BaseModel):
    items: list[AuditRecordOut]
    next_after: int | None = Field(
        None, description="Pass as `after` to get the next page; null on the last page."
    )


class VerificationOut(BaseModel):
    ok: bool
    checked: int = Field(description="Records verified.")
    chains: int = Field(description="Chains verified (one per writer).")
    first_broken_seq: int | None = Field(description="`seq` of the first broken record.")
    broken_chain: str | None
    broken_chain_seq: int | None
    problem: str
    checkpoints: int = Field(description="Signed checkpoints checked against the chains.")
    latest_checkpoint_at: str | None
    unanchored: int = Field(description="Records after the latest checkpoint.")
    content_checked: bool = Field(
        description="False when old records could be checked by their links only."
    )
    warnings: list[str]


class ChainHeadOut(BaseModel):
    chain: str
    seq: int
    hash: str


class CheckpointOut(BaseModel):
    """Signed (Ed25519) over its canonical JSON without `kid` and `signature`."""

    type: str
    version: int
    at: str
    chains: list[ChainHeadOut]
    records: int
    root: str = Field(description="RFC 6962 Merkle root over the chain heads.")
    kid: str
    signature: str


class RejectionOut(BaseModel):
    at: UtcDatetime
    version: str
    errors: list[str]


class PolicyStatusOut(BaseModel):
    version: str
    loaded_at: UtcDatetime
    directory: str
    files: dict[str, str]
    rules: int
    fast_path: bool
    fast_path_disabled_reason: str | None
    warnings: list[str]
    last_rejection: RejectionOut | None
    reloads: int


class ReloadOut(BaseModel):
    accepted: bool
    changed: bool
    version: str
    errors: list[str]
