"""The right of access (GDPR Art. 15, CCPA right to know): what the service holds about a
person, built from evidence, as data first (``AccessResult``, a pydantic model with a published
JSON schema), so that reports can render it.

It holds every dataset and field that holds the subject's data (with the values when the
caller may see them, otherwise their PII types), the purposes their data was processed for with
the lawful basis and retention, the recipients (the jobs that read it, and their owners), the
decisions that touched their datasets, the models trained on their data, where the data came
from, and their consent history. What the evidence cannot show is said plainly in ``gaps``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from governance.audit import AuditLog
from governance.pdp.catalog import Catalog, Purpose
from governance.subjects.consent import ConsentRecord
from governance.subjects.search import LineageView, SearchResult
from governance.timestamps import iso

MAX_VALUES = 20
"""Distinct values shown per field (a subject with more rows gets a count)."""


class FieldHolding(BaseModel):
    column: str
    pii_type: str = Field(description="From the catalog (or UNKNOWN when not classified).")
    values: list[str] | None = Field(
        None, description="The values held, when the caller may see them; else null."
    )


class DatasetHolding(BaseModel):
    dataset: str = Field(description="`ns/name`.")
    table: str
    rows: int
    matched_by: list[str] = Field(description="Identifiers (and transforms) that found them.")
    fields: list[FieldHolding]
    derived_from: list[str] = Field(
        default_factory=list, description="Where lineage shows this dataset's data came from."
    )


class DerivedHolding(BaseModel):
    dataset: str
    derived_from: list[str]
    note: str


class PurposeUse(BaseModel):
    purpose: str
    description: str
    lawful_basis: str
    retention_days: int
    datasets: list[str]
    decisions: int
    last_used_at: str | None


class Recipient(BaseModel):
    job: str
    owner: str | None
    reads: list[str]


class DecisionUse(BaseModel):
    dataset: str
    purpose: str
    subject: str = Field(description="Who asked (a service or a user of ours), not the person.")
    decision: str
    count: int
    first_at: str
    last_at: str


class TrainingRun(BaseModel):
    job: str
    run_id: str
    state: str
    ended_at: str | None


class ModelUse(BaseModel):
    model: str
    trained_on: list[str] = Field(description="Datasets holding the subject it was fed from.")
    runs: list[TrainingRun]
    note: str = "trained on data that holds this subject"


class ConsentEntry(BaseModel):
    id: int
    purpose: str
    status: str
    source: str
    recorded_at: str


class AccessResult(BaseModel):
    """Everything the service can show about one data subject, from evidence."""

    request_id: str | None
    generated_at: str
    identifier_kinds: list[str]
    values_included: bool
    datasets: list[DatasetHolding]
    derived: list[DerivedHolding]
    models: list[ModelUse]
    purposes: list[PurposeUse]
    recipients: list[Recipient]
    decisions: list[DecisionUse]
    sources: list[str] = Field(description="Upstream datasets the subject's data came from.")
    consents: list[ConsentEntry]
    searched: list[str]
    gaps: list[str] = Field(description="What the evidence could not establish.")


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return iso(value)
    return str(value)


def build_access_result(
    result: SearchResult,
    *,
    catalog: Catalog,
    purposes: Mapping[str, Purpose],
    audit: AuditLog,
    lineage: LineageView | None,
    consents: Sequence[ConsentRecord],
    identifier_kinds: Sequence[str],
    include_values: bool,
    request_id: str | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> AccessResult:
    datasets: list[DatasetHolding] = []
    for hit in result.hits:
        info = catalog.get(hit.dataset)
        known = dict(info.columns) if info else {}
        columns = list(hit.rows[0]) if hit.rows else []
        fields = []
        for column in columns:
            pii_type = known.get(column, "UNKNOWN")
            if pii_type == "NONE":
                pii_type = "NONE"
            values = None
            if include_values:
                seen = list(
                    dict.fromkeys(_text(r[column]) for r in hit.rows if r.get(column) is not None)
                )
                values = seen[:MAX_VALUES]
            fields.append(FieldHolding(column=column, pii_type=pii_type, values=values))
        datasets.append(
            DatasetHolding(
                dataset=hit.dataset,
                table=hit.source.table,
                rows=len(hit.rows),
                matched_by=list(hit.matched_by),
                fields=fields,
                derived_from=list(hit.derived_from),
            )
        )
    derived = [
        DerivedHolding(
            dataset=name,
            derived_from=list(origins),
            note="derived from datasets that hold the subject; not queryable here (no source "
            "declared), so its rows could not be checked",
        )
        for name, origins in sorted(result.unreachable.items())
    ]
    models = []
    for name, origins in sorted(result.models.items()):
        runs = lineage.producing_runs(name) if lineage is not None else []
        models.append(
            ModelUse(
                model=name,
                trained_on=list(origins),
                runs=[
                    TrainingRun(job=r.job, run_id=r.run_id, state=r.state, ended_at=iso(r.ended_at))
                    for r in runs
                ],
            )
        )
    touched = sorted({*result.datasets, *result.unreachable, *result.models})
    usage = audit.usage(touched)
    decisions = [
        DecisionUse(
            dataset=d,
            purpose=p,
            subject=s,
            decision=e,
            count=n,
            first_at=iso(first),
            last_at=iso(last),
        )
        for d, p, s, e, n, first, last in sorted(usage)
    ]
    by_purpose: dict[str, list[tuple[str, int, datetime]]] = {}
    for d, p, _s, e, n, _first, last in usage:
        if e == "allow":
            by_purpose.setdefault(p, []).append((d, n, last))
    purpose_uses = []
    for name, uses in sorted(by_purpose.items()):
        spec = purposes.get(name)
        purpose_uses.append(
            PurposeUse(
                purpose=name,
                description=spec.description if spec else "(not a declared purpose)",
                lawful_basis=spec.lawful_basis if spec else "undeclared",
                retention_days=spec.retention_days if spec else 0,
                datasets=sorted({d for d, _, _ in uses}),
                decisions=sum(n for _, n, _ in uses),
                last_used_at=iso(max(last for _, _, last in uses)),
            )
        )
    recipients: dict[str, Recipient] = {}
    sources: set[str] = set()
    if lineage is not None:
        for dataset in touched:
            for consumer in lineage.consumers(dataset):
                entry = recipients.setdefault(
                    consumer.job, Recipient(job=consumer.job, owner=consumer.owner, reads=[])
                )
                if dataset not in entry.reads:
                    entry.reads.append(dataset)
            for origin in lineage.upstream(dataset):
                if origin not in touched:
                    sources.add(origin)
    gaps: list[str] = []
    for dataset, message in sorted(result.errors.items()):
        gaps.append(f"{dataset} could not be searched: {message}")
    if lineage is None:
        gaps.append("no lineage store: derived data, models and recipients are not shown")
    if derived:
        gaps.append(
            f"{len(derived)} derived dataset(s) hold data derived from the subject's records "
            "but declare no source, so their rows could not be checked"
        )
    return AccessResult(
        request_id=request_id,
        generated_at=iso(now()),
        identifier_kinds=list(identifier_kinds),
        values_included=include_values,
        datasets=datasets,
        derived=derived,
        models=models,
        purposes=purpose_uses,
        recipients=sorted(recipients.values(), key=lambda r: r.job),
        decisions=decisions,
        sources=sorted(sources),
        consents=[
            ConsentEntry(
                id=c.id,
                purpose=c.purpose,
                status=c.status,
                source=c.source,
                recorded_at=iso(c.recorded_at),
            )
            for c in consents
        ],
        searched=list(result.searched),
        gaps=gaps,
    )
