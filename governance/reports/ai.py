"""The AI pipeline report: one model, its training data down to source columns, how that data
was treated, on what basis, and what the EU AI Act's data governance article asks for.

Evidence only, except the model card (``policies/models/*.yaml``: intended use, limits, bias
examination), which says what only people know. Where neither exists the report says so.

* lineage: the jobs that wrote the model (its training runs), their inputs, and column lineage
  upstream from the training inputs' fields to the source columns;
* treatment: per column, the actions of the decisions that gave the training data out
  (``raw`` when a PII column was kept, else pseudonymized or masked);
* consent: the population's state at training time (the last training run), and who withdrew
  or was erased since: retraining needed;
* AI Act Art. 10(2) to (5) and Annex IV §2(d), item by item, with the gaps stated;
* DPIA screening flags (GDPR Art. 35).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from governance.errors import InvalidInput, NotFound
from governance.models import ConsentEvent, PrivacyRequest
from governance.pdp.decision import DATASET_RE
from governance.reports.evidence import (
    dataset_matches,
    decision_usage,
    is_personal,
    transfer_needed,
    treatment,
)
from governance.reports.models import (
    AiReport,
    Art10Item,
    DpiaFlag,
    LineageEdge,
    LineageNode,
    TrainingColumn,
)
from governance.reports.sources import ReportSources
from governance.timestamps import iso

SEP = "\x1f"
ACCESS_NAMESPACE = "governance.access"
DEFAULT_TRAINING_PURPOSES = ("model_training",)
LARGE_SCALE_ROWS = 100_000
"""Rows of training data from which the screening flags large-scale processing (Art. 35(3)(a)
is about systematic evaluation on a large scale; the EDPB lists scale among its criteria)."""
RANK = {"raw": 3, "masked": 2, "pseudonymized": 1, "not used": 0, "unknown": -1}


def _gid(dataset: str) -> str:
    namespace, _, name = dataset.partition("/")
    return f"dataset{SEP}{namespace}{SEP}{name}"


def _name(gid: str) -> str:
    _, namespace, name = gid.split(SEP, 2)
    return f"{namespace}/{name}"


def build_ai(src: ReportSources, model: str, since: datetime | None, until: datetime) -> AiReport:
    if not DATASET_RE.fullmatch(model):
        raise InvalidInput(f"model {model!r} is not ns/name")
    store = src.lineage
    if store is None:
        raise NotFound("no lineage store: an AI report needs the lineage graph")
    bundle = src.bundle()
    start = _gid(model)
    found = store.datasets([start])
    if start not in found:
        raise NotFound(f"no model {model} in the lineage graph")
    record = found[start]
    card = bundle.declarations.models.get(model)
    training_purposes = DEFAULT_TRAINING_PURPOSES

    # ---- lineage ----------------------------------------------------------------------------
    walk = store.walk(start, depth=40, direction="upstream", records=True)
    # the service's own access records (a decision's lineage) are not pipeline steps
    access = {g for g in walk.nodes if g.startswith(f"job{SEP}{ACCESS_NAMESPACE}{SEP}")}
    walk.nodes = {g: d for g, d in walk.nodes.items() if g not in access}
    walk.edges = {(a, b) for a, b in walk.edges if a not in access and b not in access}
    nodes: dict[str, LineageNode] = {}
    for gid, distance in walk.nodes.items():
        kind, _, _ = gid.split(SEP, 2)
        if kind == "dataset":
            fields = [f.name for f in walk.datasets[gid].fields] if gid in walk.datasets else []
            name = _name(gid)
            nodes[name] = LineageNode(
                id=name,
                kind="model" if gid == start else "dataset",
                fields=fields,
                depth=distance // 2,
            )
        else:
            name = "job:" + _name(gid)
            nodes[name] = LineageNode(id=name, kind="job", depth=distance // 2)
    edges = [
        LineageEdge(
            source=("job:" if a.startswith("job") else "") + _name(a),
            target=("job:" if b.startswith("job") else "") + _name(b),
            kind="dataset",
        )
        for a, b in sorted(walk.edges)
    ]
    producers = [g for g, d in walk.nodes.items() if g.startswith("job") and d == 1]
    runs: list[dict[str, Any]] = []
    for gid in producers:
        _, namespace, name = gid.split(SEP, 2)
        _, records = store.runs(namespace, name, 20, 0)
        for r in records:
            runs.append(
                {
                    "job": f"{namespace}/{name}",
                    "run_id": r.run_id,
                    "state": r.state,
                    "started_at": iso(r.started_at),
                    "ended_at": iso(r.ended_at),
                }
            )
    runs.sort(key=lambda r: r["ended_at"] or r["started_at"] or "", reverse=True)
    completed = [r for r in runs if r["state"] == "COMPLETED" and r["ended_at"]]
    trained_at = completed[0]["ended_at"] if completed else None
    inputs = sorted({_name(a) for a, b in walk.edges if b in producers and a.startswith("dataset")})
    field_edges: dict[tuple[str, str], Any] = {}
    reached: set[str] = set()
    for dataset in inputs:
        namespace, _, name = dataset.partition("/")
        for f in nodes[dataset].fields if dataset in nodes else []:
            fw = store.field_walk(f"{namespace}{SEP}{name}{SEP}{f}", depth=20, direction="upstream")
            reached |= set(fw.nodes)
            for e in fw.edges:
                field_edges[(e.output, e.input)] = e
    for (output, input_), e in sorted(field_edges.items()):
        o_ns, o_ds, o_f = output.split(SEP, 2)
        i_ns, i_ds, i_f = input_.split(SEP, 2)
        edges.append(
            LineageEdge(
                source=f"{i_ns}/{i_ds}",
                target=f"{o_ns}/{o_ds}",
                kind="field",
                source_field=i_f,
                target_field=o_f,
                transformation="/".join(x for x in (e.type, e.subtype) if x) or None,
                masking=e.masking,
            )
        )
        for ds, fld in ((f"{i_ns}/{i_ds}", i_f), (f"{o_ns}/{o_ds}", o_f)):
            node = nodes.get(ds)
            if node is None:
                nodes[ds] = LineageNode(id=ds, kind="dataset", fields=[fld], depth=99)
            elif fld not in node.fields:
                node.fields.append(fld)
    outputs_with_inputs = {o for o, _ in field_edges}
    sources = sorted(
        {
            f"{k.split(SEP)[0]}/{k.split(SEP)[1]}.{k.split(SEP)[2]}"
            for k in reached
            if k not in outputs_with_inputs
        }
    )
    upstream = sorted(n.id for n in nodes.values() if n.kind == "dataset")

    # ---- treatment, from the decisions that gave the data out ------------------------------
    usages = decision_usage(
        src.db,
        since=since,
        until=until,
        datasets=upstream,
        purposes=list(training_purposes),
    )
    allowed = [u for u in usages if u.decision == "allow"]
    seen: dict[tuple[str, str], tuple[str, Counter[str]]] = {}
    for u in allowed:
        for o in u.obligations:
            entry = seen.setdefault(
                (u.dataset, o["column"]), (o.get("pii_type", "UNKNOWN"), Counter())
            )
            entry[1][o.get("action", "keep")] += u.count
    columns: list[TrainingColumn] = []
    for (dataset, column), (pii_type, actions) in sorted(seen.items()):
        if not is_personal(pii_type):
            continue  # the report is about personal data; other columns are in the lineage
        worst = max((treatment(a) for a in actions), key=lambda t: RANK[t])
        mapping = bundle.declarations.category(pii_type)
        columns.append(
            TrainingColumn(
                dataset=dataset,
                column=column,
                pii_type=pii_type,
                special=bool(mapping and mapping.special),
                treatment=worst,
                actions=dict(sorted(actions.items())),
            )
        )
    for source in sources:  # source columns no decision covered: what the catalog says
        dataset, _, column = source.rpartition(".")
        if (dataset, column) in seen:
            continue
        pii_type = src.columns_of(dataset).get(column, "UNKNOWN")
        if is_personal(pii_type):
            mapping = bundle.declarations.category(pii_type)
            columns.append(
                TrainingColumn(
                    dataset=dataset,
                    column=column,
                    pii_type=pii_type,
                    special=bool(mapping and mapping.special),
                    treatment="unknown",
                    actions={},
                )
            )
    purposes: list[dict[str, Any]] = []
    for name in training_purposes:
        p = bundle.purposes.get(name)
        purposes.append(
            {
                "purpose": name,
                "lawful_basis": p.lawful_basis if p else "undeclared",
                "retention_days": p.retention_days if p else None,
                "declared_datasets": list(p.datasets) if p else [],
            }
        )
    decisions = {
        "allowed": sum(u.count for u in allowed),
        "denied": sum(u.count for u in usages if u.decision != "allow"),
        "by_dataset": {
            d: sum(u.count for u in usages if u.dataset == d)
            for d in sorted({u.dataset for u in usages})
        },
        "principals": sorted({u.subject for u in usages}),
        "policy_versions": sorted({u.policy_version for u in usages}),
    }

    # ---- consent of the training population -------------------------------------------------
    consent: dict[str, Any] = {"trained_at": trained_at}
    if trained_at is not None:
        moment = datetime.fromisoformat(trained_at.replace("Z", "+00:00"))
        with src.db.session() as session:
            withdrawn = session.exec(
                select(ConsentEvent.purpose, ConsentEvent.subject_ref).where(
                    ConsentEvent.status == "withdrawn", col(ConsentEvent.recorded_at) > moment
                )
            ).all()
            erased = session.exec(
                select(PrivacyRequest).where(
                    PrivacyRequest.kind == "erasure",
                    PrivacyRequest.status == "completed",
                    col(PrivacyRequest.completed_at) > moment,
                )
            ).all()
        erased_from_model = []
        if src.subjects is not None:
            for request in erased:
                plan = src.subjects.stored_plan(request.id)
                if plan is not None and any(s.dataset == model for s in plan.steps):
                    erased_from_model.append(request.id)
        consent.update(
            {
                "withdrawals_since_training": len({r for _, r in withdrawn}),
                "withdrawals_by_purpose": dict(Counter(p for p, _ in withdrawn)),
                "erased_since_training": erased_from_model,
                "retraining_needed": bool(erased_from_model),
                "note": "subjects erased since the last training run still shaped the model: "
                "retrain it without them, or document an exemption"
                if erased_from_model
                else "no subject of the training data was erased since the last training run",
            }
        )
    else:
        consent["note"] = "no completed training run in the lineage graph"

    # ---- EU AI Act Art. 10 and Annex IV §2(d) -----------------------------------------------
    transformations = Counter(e.transformation or "unspecified" for e in edges if e.kind == "field")
    masked = sum(1 for e in edges if e.kind == "field" and e.masking)
    special = [c for c in columns if c.special and c.treatment != "not used"]
    origin = []
    for name in sorted({s.rpartition(".")[0] for s in sources} or set(inputs)):
        info = bundle.catalog.get(name)
        origin.append(
            f"{name}"
            + (
                f" (owner {info.owner}, channel {info.channel})"
                if info
                else " (not in the catalog)"
            )
        )
    stats = []
    for dataset in inputs:
        rows = (
            (walk.datasets.get(_gid(dataset)).facets.get("outputStatistics") or {}).get("rowCount")
            if walk.datasets.get(_gid(dataset))
            else None
        )
        if rows is not None:
            stats.append(f"{dataset}: {rows} rows (outputStatistics)")
    quality = [
        dataset
        for dataset in inputs
        if walk.datasets.get(_gid(dataset)) is not None
        and "dataQualityAssertions" in walk.datasets[_gid(dataset)].facets
    ]
    bias = dict(card.bias_examination) if card else {}
    art10 = [
        Art10Item(
            reference="Art. 10(2)(a)",
            item="relevant design choices",
            evidence=[card.design_choices] if card and card.design_choices else [],
            gap=None if card and card.design_choices else "no design choices declared (model card)",
        ),
        Art10Item(
            reference="Art. 10(2)(b)",
            item="data collection processes and the origin of data",
            evidence=[
                *origin,
                f"training jobs: {', '.join(sorted({r['job'] for r in runs}))}" if runs else "",
            ],
            gap=None if origin else "no source of the training data in the lineage graph",
        ),
        Art10Item(
            reference="Art. 10(2)(c)",
            item="data-preparation operations (annotation, cleaning, enrichment, aggregation)",
            evidence=[
                f"{n} column derivation(s) of type {t}" for t, n in sorted(transformations.items())
            ]
            + ([f"{masked} masking derivation(s)"] if masked else []),
            gap=None if transformations else "no column lineage: preparation steps unknown",
        ),
        Art10Item(
            reference="Art. 10(2)(d)",
            item="assumptions about what the data measures and represents",
            evidence=[card.assumptions] if card and card.assumptions else [],
            gap=None if card and card.assumptions else "no assumptions declared (model card)",
        ),
        Art10Item(
            reference="Art. 10(2)(e)",
            item="availability, quantity and suitability of the data sets",
            evidence=stats,
            gap=None
            if stats
            else "no row counts in lineage (outputStatistics) for the training inputs",
        ),
        Art10Item(
            reference="Art. 10(2)(f)-(g)",
            item="examination for possible biases, and measures against them",
            evidence=[f"{k}: {v}" for k, v in sorted(bias.items())],
            gap=None if bias.get("done") else "no bias examination declared (model card)",
        ),
        Art10Item(
            reference="Art. 10(2)(h)",
            item="data gaps or shortcomings, and how they are addressed",
            evidence=[card.limitations] if card and card.limitations else [],
            gap=None if card and card.limitations else "no known limits declared (model card)",
        ),
        Art10Item(
            reference="Art. 10(3)",
            item="relevant, representative, free of errors and complete",
            evidence=[f"data quality assertions on {d}" for d in quality],
            gap=None if quality else "no data quality assertions seen for the training inputs",
        ),
        Art10Item(
            reference="Art. 10(5)",
            item="special categories of personal data",
            evidence=[f"{c.dataset}.{c.column} ({c.pii_type}, {c.treatment})" for c in special]
            or ["none used"],
        ),
        Art10Item(
            reference="Annex IV §2(d)",
            item="datasheet: provenance, scope, characteristics, selection, labelling, cleaning",
            evidence=[
                f"{len(sources)} source column(s)",
                f"{len(columns)} column(s) with treatment evidence",
            ],
            gap=None if sources else "no column lineage to the sources",
        ),
    ]
    for item in art10:
        item.evidence = [e for e in item.evidence if e]

    # ---- DPIA screening (GDPR Art. 35) --------------------------------------------------------
    flags: list[DpiaFlag] = []
    raw = [c for c in columns if c.treatment == "raw" and is_personal(c.pii_type)]
    if raw:
        flags.append(
            DpiaFlag(
                flag="raw_pii_in_training",
                detail="personal data handed to training in the clear: "
                + ", ".join(f"{c.dataset}.{c.column} ({c.pii_type})" for c in raw),
            )
        )
    if special:
        flags.append(
            DpiaFlag(
                flag="special_categories",
                detail=", ".join(f"{c.dataset}.{c.column} ({c.pii_type})" for c in special),
            )
        )
    for purpose in purposes:
        declared: list[str] = purpose["declared_datasets"]
        outside = sorted(
            {u.dataset for u in allowed if u.purpose == purpose["purpose"]}
            - {d for d in upstream if declared and dataset_matches(bundle, d, declared)}
        )
        if outside:
            flags.append(
                DpiaFlag(
                    flag="purpose_mismatch",
                    detail=f"read for {purpose['purpose']} but not declared for it: "
                    + ", ".join(outside),
                )
            )
    largest = max(
        [
            int(r)
            for r in (
                (walk.datasets[g].facets.get("outputStatistics") or {}).get("rowCount")
                for g in (_gid(d) for d in inputs)
                if g in walk.datasets
            )
            if isinstance(r, int)
        ]
        or [0]
    )
    if largest >= LARGE_SCALE_ROWS:
        flags.append(
            DpiaFlag(
                flag="large_scale_profiling",
                detail=f"training data of {largest} rows: profiling on a large scale",
            )
        )
    safeguarded = {
        t.country
        for name in training_purposes
        if name in bundle.purposes
        for t in bundle.purposes[name].transfers
        if t.safeguard
    }
    unsafe = sorted(
        {
            f"{d} ({c})"
            for d in upstream
            if (c := transfer_needed(bundle, d)) is not None and c not in safeguarded
        }
    )
    if unsafe:
        flags.append(
            DpiaFlag(
                flag="transfer_without_safeguard",
                detail="training data stored in third countries without a declared safeguard: "
                + ", ".join(unsafe),
            )
        )
    return AiReport(
        model=model,
        model_type=record.dataset_type,
        card=(
            {
                "file": card.file,
                "owner": card.owner,
                "intended_use": card.intended_use,
                "limitations": card.limitations,
                "design_choices": card.design_choices,
                "assumptions": card.assumptions,
                "bias_examination": dict(card.bias_examination),
            }
            if card
            else {}
        ),
        training_runs=runs,
        trained_at=trained_at,
        lineage_nodes=sorted(nodes.values(), key=lambda n: (n.depth, n.id)),
        lineage_edges=edges,
        source_columns=sources,
        columns=columns,
        purposes=purposes,
        decisions=decisions,
        consent=consent,
        data_governance=art10,
        dpia_flags=flags,
    )
