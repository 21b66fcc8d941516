"""The values of a decision: the question (``AccessRequest``) and the answer (``Decision``)."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SUBJECT_RE = re.compile(r"^(user|service|role):[A-Za-z0-9_.@\-]+$")
# Whitespace spelled out: Python's \s and JSON Schema's (ECMA-262) \s disagree on \x1c-\x1f,
# \x85 and \ufeff, and the pattern is published in the OpenAPI document as well as checked here.
_WS = r"\t\n\v\f\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
DATASET_RE = re.compile(rf"^[^/{_WS}]+/[^{_WS}]+$")
NAME_RE = re.compile(r"^[A-Za-z0-9_.:\-]+$")


class Effect(StrEnum):
    allow = "allow"
    deny = "deny"


class ObligationAction(StrEnum):
    """What an allowed subject sees of a column, from least to most restrictive."""

    keep = "keep"
    mask = "mask"
    encrypt = "encrypt"
    pseudonymize = "pseudonymize"
    hash = "hash"
    redact = "redact"
    drop = "drop"

    @property
    def strictness(self) -> int:
        return _STRICTNESS[self]


_STRICTNESS = {a: i for i, a in enumerate(ObligationAction)}


class SubjectRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    id: str = Field(
        min_length=3,
        max_length=300,
        description="`user:alice`, `service:churn-pipeline`.",
        json_schema_extra={"pattern": SUBJECT_RE.pattern},  # checked below, with a clear message
    )
    roles: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="Roles the subject acts under. Each must be held by policy; when given, "
        "they are checked and every one not held denies.",
    )
    attributes: dict[str, Any] = Field(
        default_factory=dict, description="Subject attributes, as `r.ctx.subject.*` in rules."
    )

    @field_validator("id")
    @classmethod
    def _subject_form(cls, v: str) -> str:
        if not SUBJECT_RE.fullmatch(v):
            raise ValueError("must look like user:NAME, service:NAME or role:NAME")
        return v


class ResourceRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    dataset: str = Field(
        min_length=3,
        max_length=500,
        description="`namespace/name`.",
        json_schema_extra={"pattern": DATASET_RE.pattern},  # checked below, with a clear message
    )
    columns: list[str] | None = Field(
        default=None,
        max_length=2000,
        description="Columns the caller will read; all catalogued columns when omitted.",
    )
    attributes: dict[str, Any] = Field(
        default_factory=dict, description="Resource attributes, as `r.ctx.resource.*` in rules."
    )

    @field_validator("dataset")
    @classmethod
    def _dataset_form(cls, v: str) -> str:
        if not DATASET_RE.fullmatch(v):
            raise ValueError("must look like namespace/name")
        return v


class DataSubjectRef(BaseModel):
    """The one person a request is about (a customer), by any of their identifiers. Consent
    and opt-outs are checked for them; without it, a whole table's rows are filtered."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        json_schema_extra={  # at least one identifier (the shapes come from catalog.yaml)
            "anyOf": [
                {"required": [kind], "properties": {kind: {"type": "string"}}}
                for kind in ("customer_id", "email", "phone")
            ]
        },
    )

    customer_id: str | None = Field(
        None,
        max_length=128,
        examples=["CU10000042"],
        json_schema_extra={"x-vocabulary": "identifier:customer_id"},
    )
    email: str | None = Field(
        None,
        max_length=320,
        examples=["jane@example.com"],
        json_schema_extra={"x-vocabulary": "identifier:email"},
    )
    phone: str | None = Field(
        None,
        max_length=32,
        examples=["+44 20 7946 0958"],
        json_schema_extra={"x-vocabulary": "identifier:phone"},
    )

    @model_validator(mode="after")
    def _at_least_one(self) -> DataSubjectRef:
        if not self.items():
            raise ValueError("name the data subject by customer_id, email or phone")
        return self

    def items(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class AccessRequest(BaseModel):
    """May ``subject`` do ``action`` on ``resource`` for ``purpose``, in this ``context``?"""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    subject: SubjectRef
    action: str = Field(min_length=1, max_length=100, pattern=NAME_RE.pattern)
    resource: ResourceRef
    purpose: str = Field(min_length=1, max_length=100, pattern=NAME_RE.pattern)
    context: dict[str, Any] = Field(
        default_factory=dict,
        description="Request attributes (channel, region, consent …), as `r.ctx.*` in rules. "
        "`gpc: true` (or the header `Sec-GPC: 1`) is the Global Privacy Control signal.",
    )
    subject_ref: DataSubjectRef | None = Field(
        None,
        description="The data subject (customer) the access is about, for consent and "
        "opt-out checks. Omitted: the access is to many subjects' rows, and an allow comes "
        "with a row filter that keeps only those whose consent permits the purpose.",
    )

    def casbin_context(self) -> dict[str, Any]:
        """The ``r.ctx`` value the Casbin model sees: the context plus subject/resource attrs."""
        ctx = dict(self.context)
        ctx["subject"] = dict(self.subject.attributes)
        ctx["resource"] = dict(self.resource.attributes)
        return ctx


class ColumnObligation(BaseModel):
    model_config = ConfigDict(frozen=True)

    column: str
    pii_type: str
    action: ObligationAction


class RowFilterOp(StrEnum):
    eq = "eq"
    ne = "ne"
    in_ = "in"
    not_in = "not_in"
    lt = "lt"
    le = "le"
    gt = "gt"
    ge = "ge"
    is_null = "is_null"
    not_null = "not_null"
    subject_in = "subject_in"
    """The row's subject is in a consent list: ``value`` is ``{"kind", "pii_type", "refs"}``,
    ``refs`` the first 16 hex digits of keyed subject references (never identifiers)."""
    subject_not_in = "subject_not_in"


SUBJECT_OPS = frozenset({RowFilterOp.subject_in, RowFilterOp.subject_not_in})


# the binary comparisons of a row filter, for Python values and SQLAlchemy columns alike
COMPARISONS: dict[RowFilterOp, Callable[[Any, Any], Any]] = {
    RowFilterOp.eq: operator.eq,
    RowFilterOp.ne: operator.ne,
    RowFilterOp.lt: operator.lt,
    RowFilterOp.le: operator.le,
    RowFilterOp.gt: operator.gt,
    RowFilterOp.ge: operator.ge,
}


class RowCondition(BaseModel):
    """One condition of a row filter; the conditions of a filter all hold (AND)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    column: str
    op: RowFilterOp
    value: Any = None


class Decision(BaseModel):
    """The answer to an ``AccessRequest``."""

    model_config = ConfigDict(frozen=True)

    decision: Effect
    reason: str
    matched_rule: list[str] | None = None
    obligations: list[ColumnObligation] = Field(default_factory=list)
    row_filter: list[RowCondition] | None = None
    policy_version: str
    decision_id: str = ""

    @property
    def allowed(self) -> bool:
        return self.decision is Effect.allow
