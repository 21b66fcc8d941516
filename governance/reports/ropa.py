"""The record of processing activities (GDPR Art. 30(1)), declarations beside evidence.

For each purpose of ``purposes.yaml``: what was declared (data subjects, data categories, the
datasets it may take data from, recipients, transfers and their safeguards, security measures)
and what the decisions and the lineage show (the datasets and fields actually used, the PII
types in them, the principals and jobs that received them). Divergences are flagged:

* a dataset used for the purpose that was not declared for it;
* a data category used (a PII column handed over in any form) but not declared;
* retention exceeded: a dataset first seen longer ago than the purpose's retention, still read
  for it, with no lifecycle change (overwrite, truncate, drop) observed within the retention;
* a purpose with lawful basis consent used without consent evidence;
* a dataset stored in a third country read for a purpose with no safeguard for that country;
* decisions for a purpose that is not declared at all.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from governance.pdp.catalog import Purpose
from governance.reports.evidence import (
    Usage,
    by_key,
    categories_of,
    dataset_matches,
    decision_usage,
    is_personal,
    transfer_needed,
)
from governance.reports.models import (
    Activity,
    ControllerOut,
    DatasetUse,
    Divergence,
    FieldUse,
    RecipientUse,
    Ropa,
    TransferOut,
)
from governance.reports.sources import ReportSources
from governance.timestamps import iso

LIFECYCLE_RESETS = frozenset({"OVERWRITE", "TRUNCATE", "DROP", "DELETE"})


def _gdpr(bundle: Any, pii_type: str) -> str | None:
    mapping = bundle.declarations.category(pii_type)
    return mapping.gdpr if mapping is not None else None


def controller_out(src: ReportSources) -> ControllerOut:
    c = src.bundle().declarations.controller
    dpo = ", ".join(x for x in (c.dpo_name, c.dpo_contact) if x)
    return ControllerOut(
        name=c.name or "(not declared: policies/controller.yaml)",
        address=c.address,
        contact=c.contact,
        dpo=dpo,
        representative=c.representative,
        country=c.country,
    )


def _lineage_records(src: ReportSources, datasets: list[str]) -> dict[str, Any]:
    if src.lineage is None or not datasets:
        return {}
    from governance.pdp.decision import DATASET_RE

    gids = {}
    for name in datasets:
        if DATASET_RE.fullmatch(name):
            namespace, _, rest = name.partition("/")
            gids[f"dataset\x1f{namespace}\x1f{rest}"] = name
    found = src.lineage.datasets(list(gids))
    return {gids[g]: r for g, r in found.items()}


def _consumers(src: ReportSources, datasets: list[str]) -> dict[str, list[tuple[str, str | None]]]:
    """Per dataset, the pipeline jobs (not the service's own access records) that read it, with
    their owners: two queries for every dataset of the report."""
    if src.lineage is None or not datasets:
        return {}
    gids = {}
    for name in datasets:
        namespace, _, rest = name.partition("/")
        gids[f"dataset\x1f{namespace}\x1f{rest}"] = name
    readers = src.lineage.readers(list(gids))
    jobs = src.lineage.jobs(sorted({j for js in readers.values() for j in js}))
    out: dict[str, list[tuple[str, str | None]]] = {}
    for gid, js in readers.items():
        for job_gid in js:
            job = jobs.get(job_gid)
            if job is None or job.namespace == "governance.access":
                continue  # a decision's own lineage: the principal is listed already
            owners = (job.facets.get("ownership") or {}).get("owners") or []
            owner = ", ".join(str(o.get("name")) for o in owners if isinstance(o, dict)) or None
            out.setdefault(gids[gid], []).append((f"{job.namespace}/{job.name}", owner))
    return out


@dataclass(frozen=True)
class _Lineage:
    """What the graph says about the report's datasets, read once for every activity."""

    records: dict[str, Any]
    consumers: dict[str, list[tuple[str, str | None]]]


def _activity(
    src: ReportSources,
    graph: _Lineage,
    name: str,
    purpose: Purpose | None,
    uses: list[Usage],
    by_principal: list[Usage],
    until: datetime,
) -> Activity:
    """One purpose's record: ``uses`` grouped by dataset, effect and obligations, and
    ``by_principal`` by subject and effect."""
    bundle = src.bundle()
    allowed = [u for u in uses if u.decision == "allow"]
    denied = sum(u.count for u in uses if u.decision != "allow")
    datasets: dict[str, list[Usage]] = {}
    for u in allowed:
        datasets.setdefault(u.dataset, []).append(u)
    declared = purpose.datasets if purpose else ()
    dataset_uses = [
        DatasetUse(
            dataset=d,
            decisions=sum(u.count for u in us),
            first_at=iso(min(u.first for u in us)),
            last_at=iso(max(u.last for u in us)),
            declared=bool(declared) and dataset_matches(bundle, d, declared),
            country=bundle.catalog.country_of(d),
        )
        for d, us in sorted(datasets.items())
    ]
    fields: dict[tuple[str, str], tuple[str, Counter[str]]] = {}
    for u in allowed:
        for column, (pii_type, action) in u.columns_used().items():
            entry = fields.get((u.dataset, column))
            if entry is None:
                entry = fields[(u.dataset, column)] = (pii_type, Counter())
            entry[1][action] += u.count
    field_uses = [
        FieldUse(
            dataset=d,
            column=c,
            pii_type=t,
            gdpr_category=_gdpr(bundle, t),
            actions=dict(sorted(actions.items())),
        )
        for (d, c), (t, actions) in sorted(fields.items())
    ]
    personal = {f.pii_type for f in field_uses if is_personal(f.pii_type)}
    evidenced = categories_of(bundle, personal)
    principals: Counter[str] = Counter()
    for u in by_principal:
        if u.decision == "allow":
            principals[u.subject] += u.count
    recipients = [
        RecipientUse(
            recipient=p,
            kind="principal",
            roles=sorted(bundle.subject_roles(p) - {p}),
            decisions=n,
        )
        for p, n in sorted(principals.items())
    ]
    jobs = {job: owner for d in datasets for job, owner in graph.consumers.get(d, ())}
    for job, owner in sorted(jobs.items()):
        recipients.append(RecipientUse(recipient=job, kind="job", owner=owner))
    divergences: list[Divergence] = []
    if purpose is None:
        divergences.append(
            Divergence(
                kind="undeclared_purpose",
                purpose=name,
                detail=f"{sum(u.count for u in uses)} decision(s) name purpose {name!r}, which "
                "purposes.yaml does not declare",
                datasets=sorted({u.dataset for u in uses}),
                decisions=sum(u.count for u in uses),
            )
        )
    else:
        outside = [d for d in dataset_uses if not d.declared]
        if outside:
            divergences.append(
                Divergence(
                    kind="undeclared_dataset",
                    purpose=name,
                    detail=(
                        f"read for {name} but not declared for it: "
                        + ", ".join(f"{d.dataset} ({d.decisions} decision(s))" for d in outside)
                        if declared
                        else f"{name} declares no datasets, and {len(outside)} were read for it"
                    ),
                    datasets=[d.dataset for d in outside],
                    decisions=sum(d.decisions for d in outside),
                )
            )
        missing = sorted(set(evidenced) - set(purpose.data_categories))
        if missing:
            divergences.append(
                Divergence(
                    kind="undeclared_category",
                    purpose=name,
                    detail="used but not declared: "
                    + "; ".join(f"{c} ({', '.join(sorted(evidenced[c]))})" for c in missing),
                    datasets=sorted(
                        {f.dataset for f in field_uses if f.gdpr_category in set(missing)}
                    ),
                )
            )
        if purpose.lawful_basis == "consent":
            without = sum(u.count - u.with_consent for u in allowed)
            if without:
                divergences.append(
                    Divergence(
                        kind="consent_missing",
                        purpose=name,
                        detail=f"{without} allowed decision(s) for {name} (lawful basis consent) "
                        "carry no consent evidence: no consent record cited, no consent row filter",
                        datasets=sorted({u.dataset for u in allowed if u.count > u.with_consent}),
                        decisions=without,
                    )
                )
        safeguarded = {t.country for t in purpose.transfers if t.safeguard}
        transfers: dict[str, list[str]] = {}
        for d in dataset_uses:
            country = transfer_needed(bundle, d.dataset)
            if country and country not in safeguarded:
                transfers.setdefault(country, []).append(d.dataset)
        for country, names in sorted(transfers.items()):
            divergences.append(
                Divergence(
                    kind="transfer_without_safeguard",
                    purpose=name,
                    detail=f"data stored in {country} read for {name}, and no safeguard for "
                    f"{country} is declared (GDPR Chapter V)",
                    datasets=names,
                )
            )
        records = graph.records
        limit = until - timedelta(days=purpose.retention_days)
        old = []
        for d in dataset_uses:
            record = records.get(d.dataset)
            if record is None or record.created_at >= limit:
                continue
            change = (record.facets.get("lifecycleStateChange") or {}).get("lifecycleStateChange")
            if str(change).upper() in LIFECYCLE_RESETS and record.updated_at >= limit:
                continue  # its data was replaced within the retention
            old.append(f"{d.dataset} (first seen {iso(record.created_at)[:10]})")
        if old:
            divergences.append(
                Divergence(
                    kind="retention_exceeded",
                    purpose=name,
                    detail=f"still read for {name} although older than its retention of "
                    f"{purpose.retention_days} days, with no overwrite or deletion observed: "
                    + ", ".join(old),
                    datasets=[o.split(" ", 1)[0] for o in old],
                )
            )
    return Activity(
        purpose=name,
        description=purpose.description if purpose else "(not declared)",
        lawful_basis=purpose.lawful_basis if purpose else "undeclared",
        retention_days=purpose.retention_days if purpose else 0,
        data_subjects=list(purpose.data_subjects) if purpose else [],
        declared_categories=list(purpose.data_categories) if purpose else [],
        declared_datasets=list(declared),
        declared_recipients=list(purpose.recipients) if purpose else [],
        transfers=[TransferOut(country=t.country, safeguard=t.safeguard) for t in purpose.transfers]
        if purpose
        else [],
        security=list(purpose.security) if purpose else [],
        evidenced_categories=sorted(evidenced),
        datasets_used=dataset_uses,
        fields_used=field_uses,
        recipients=recipients,
        decisions_allowed=sum(u.count for u in allowed),
        decisions_denied=denied,
        divergences=divergences,
    )


def build_ropa(src: ReportSources, since: datetime | None, until: datetime) -> Ropa:
    bundle = src.bundle()
    usages = decision_usage(
        src.db, since=since, until=until, by=("dataset", "purpose", "decision", "obligations")
    )
    grouped = by_key(usages)
    principals = by_key(
        decision_usage(src.db, since=since, until=until, by=("purpose", "subject", "decision"))
    )
    read = sorted({u.dataset for u in usages if u.decision == "allow"})
    graph = _Lineage(_lineage_records(src, read), _consumers(src, read))
    activities = [
        _activity(
            src,
            graph,
            name,
            purpose,
            list(grouped.get(name, [])),
            list(principals.get(name, [])),
            until,
        )
        for name, purpose in sorted(bundle.purposes.items())
    ]
    for name in sorted(set(grouped) - set(bundle.purposes)):
        activities.append(
            _activity(
                src, graph, name, None, list(grouped[name]), list(principals.get(name, [])), until
            )
        )
    return Ropa(
        controller=controller_out(src),
        activities=activities,
        divergences=[d for a in activities for d in a.divergences],
        evidence=[
            f"{sum(u.count for u in usages)} decisions of the audit trail"
            + (f" since {iso(since)}" if since else ""),
            "declarations: purposes.yaml, catalog.yaml, categories.yaml, controller.yaml",
            "lineage graph: recipients (jobs), dataset first seen and lifecycle",
        ],
    )
