"""The CCPA report for the last 12 months: categories of personal information collected,
disclosed for a business purpose, sold and shared (from evidence), and the consumer request
metrics of CCPA regulations §7102.

* **collected**: the PII types held in the datasets that were active in the period (read by a
  decision, or written according to lineage), by the catalog and confirmed classifications;
* **disclosed for a business purpose**: columns handed over (in any form) by allowed decisions
  for purposes that are neither a sale nor a share;
* **sold** / **shared**: the same for purposes marked ``ccpa_sale`` / ``ccpa_share``;
* **requests**: privacy requests received in the period (to know = access, to delete =
  erasure, to correct = rectification, to opt out = opt_out): received, complied with, denied,
  still open, and the median days from receipt to the answer.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlmodel import col, select

from governance.models import PrivacyRequest
from governance.pdp.declarations import CCPA_CATEGORIES
from governance.reports.evidence import decision_usage, is_personal
from governance.reports.models import CategoryCount, CcpaReport, RequestMetric
from governance.reports.ropa import controller_out
from governance.reports.sources import ReportSources

REQUESTS = {"know": "access", "delete": "erasure", "correct": "rectification", "opt_out": "opt_out"}


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _categories(src: ReportSources, held: Iterable[tuple[str, str]]) -> list[CategoryCount]:
    """(dataset, PII type) pairs → CCPA categories with their types and datasets."""
    bundle = src.bundle()
    out: dict[str, tuple[set[str], set[str]]] = {}
    for dataset, pii_type in held:
        if not is_personal(pii_type):
            continue
        mapping = bundle.declarations.category(pii_type)
        key = mapping.ccpa if mapping else "unmapped"
        types, datasets = out.setdefault(key, (set(), set()))
        types.add(pii_type)
        datasets.add(dataset)
    return [
        CategoryCount(
            category=key,
            label=CCPA_CATEGORIES.get(key, "not mapped in categories.yaml"),
            pii_types=sorted(types),
            datasets=sorted(datasets),
        )
        for key, (types, datasets) in sorted(out.items())
    ]


def request_metrics(src: ReportSources, since: datetime, until: datetime) -> list[RequestMetric]:
    with src.db.session() as session:
        rows = session.exec(
            select(PrivacyRequest).where(
                col(PrivacyRequest.received_at) >= since, col(PrivacyRequest.received_at) < until
            )
        ).all()
    out = []
    for name, kind in REQUESTS.items():
        mine = [r for r in rows if r.kind == kind]
        answered = [r for r in mine if r.completed_at is not None]
        days = [
            (_aware(r.completed_at) - _aware(r.received_at)).total_seconds() / 86400
            for r in answered
            if r.completed_at is not None
        ]
        out.append(
            RequestMetric(
                request=name,
                received=len(mine),
                complied=sum(r.status == "completed" for r in mine),
                denied=sum(r.status == "denied" for r in mine),
                open=sum(r.status not in ("completed", "denied") for r in mine),
                median_days_to_respond=round(statistics.median(days), 1) if days else None,
            )
        )
    return out


def build_ccpa(src: ReportSources, until: datetime) -> CcpaReport:
    bundle = src.bundle()
    since = until - timedelta(days=365)
    usages = decision_usage(
        src.db, since=since, until=until, by=("dataset", "purpose", "decision", "obligations")
    )
    active = {u.dataset for u in usages}
    if src.lineage is not None:
        for namespace in src.lineage.namespaces():
            _, datasets = src.lineage.list_datasets(namespace.name, 10_000, 0)
            for d in datasets:
                if d.updated_at >= since:
                    active.add(f"{d.namespace}/{d.name}")
    collected = [
        (dataset, pii_type)
        for dataset in sorted(active)
        for pii_type in src.columns_of(dataset).values()
    ]
    disclosed, sold, shared = [], [], []
    for u in usages:
        if u.decision != "allow":
            continue
        purpose = bundle.purposes.get(u.purpose)
        pairs = [(u.dataset, t) for t, _ in u.columns_used().values()]
        if purpose is not None and purpose.ccpa_sale:
            sold += pairs
        if purpose is not None and purpose.ccpa_share:
            shared += pairs
        if purpose is None or not (purpose.ccpa_sale or purpose.ccpa_share):
            disclosed += pairs
    return CcpaReport(
        business=controller_out(src),
        collected=_categories(src, collected),
        disclosed_for_business_purpose=_categories(src, disclosed),
        sold=_categories(src, sold),
        shared=_categories(src, shared),
        requests=request_metrics(src, since, until),
        notes=[
            "categories come from the catalog and confirmed classifications of the datasets "
            "active in the period (decisions and lineage), mapped by categories.yaml",
            "disclosed, sold and shared come from allowed decisions: the columns handed over "
            "in any form (pseudonymized ones included), by purpose (ccpa_sale, ccpa_share)",
            "request metrics follow CCPA regulations §7102(a); days run from receipt to the "
            "answer (completed or denied)",
        ],
    )
