"""Report building at scale: the record of processing and one AI report over 1M decisions and
the 100,000-node lineage graph of ``bench/lineage_query.py``, on SQLite and PostgreSQL.

The graph is ingested into the embedded SQL lineage store; one last-layer dataset becomes a
model (``datasetType: MODEL``). 1,000,000 decision records are appended to the audit chain (hash
chained, as the service writes them) over 2,000 of the graph's datasets (``--governed``: the
tables read through the service, not every intermediate a pipeline writes), for the shipped
purposes, with realistic obligations (ten columns per decision). Then, in the same run:

* the service's builders (``build_ropa``, ``build_ai``): decisions read grouped, in one query,
  from the decision facts that the service's background indexer extracts from the trail (the
  indexing is timed and printed on its own: it runs as records arrive, not per report);
* the baseline: the same evidence read naively, a query per dataset with every payload parsed
  in Python (``evidence.usage_naive``).

Goal: each report under 10 s, on SQLite and on PostgreSQL.

    python bench/reports.py [--decisions 1000000] [--nodes 100000] [--governed 2000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import sqlalchemy as sa  # noqa: E402
from lineage_query import build_graph, ingest  # noqa: E402

from governance.audit import AuditEntry, AuditLog  # noqa: E402
from governance.db import create_database  # noqa: E402
from governance.pdp.engine import PolicyDecisionPoint  # noqa: E402
from governance.reports.ai import build_ai  # noqa: E402
from governance.reports.evidence import usage_naive  # noqa: E402
from governance.reports.facts import FactIndexer  # noqa: E402
from governance.reports.ropa import build_ropa  # noqa: E402
from governance.reports.sources import ReportSources  # noqa: E402
from governance.schema import upgrade  # noqa: E402
from lineage.events import parse_event  # noqa: E402
from lineage.store import split_gid  # noqa: E402
from lineage.store.sql import SqlLineageStore  # noqa: E402

PURPOSES = ["analytics", "model_training", "customer_support", "fraud_prevention", "marketing"]
ACTIONS = {
    "analytics": ["pseudonymize", "hash", "mask", "keep", "drop"],
    "model_training": ["pseudonymize", "mask", "drop", "keep"],
    "customer_support": ["keep", "mask", "drop"],
    "fraud_prevention": ["keep", "hash", "mask"],
    "marketing": ["keep", "drop"],
}
TYPES = ["CUSTOMER_ID", "EMAIL_ADDRESS", "PERSON", "PHONE_NUMBER", "IP_ADDRESS", "URL", "NONE"]


def model_event(namespace: str, name: str) -> dict[str, Any]:
    return {
        "eventTime": "2026-11-30T00:00:00Z",
        "producer": "https://github.com/example/bench",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent",
        "dataset": {
            "namespace": namespace,
            "name": name,
            "facets": {
                "datasetType": {
                    "_producer": "https://github.com/example/bench",
                    "_schemaURL": "https://openlineage.io/spec/facets/x.json",
                    "datasetType": "MODEL",
                }
            },
        },
    }


def fill_decisions(db: Any, datasets: list[str], n: int, rng: random.Random) -> float:
    audit = AuditLog(db, b"bench-audit-key")
    start = datetime.now(UTC) - timedelta(days=200)
    subjects = [f"service:pipeline{i}" for i in range(20)] + [f"user:u{i}" for i in range(80)]
    shapes = {}
    for purpose in PURPOSES:  # a few obligation shapes per purpose, as real policies give
        shapes[purpose] = [
            [
                {
                    "column": f"f{c}",
                    "pii_type": TYPES[c % len(TYPES)],
                    "action": rng.choice(ACTIONS[purpose]),
                }
                for c in range(10)
            ]
            for _ in range(3)
        ]
    started = time.perf_counter()
    batch: list[AuditEntry] = []
    for i in range(n):
        purpose = rng.choice(PURPOSES)
        allowed = rng.random() < 0.8
        dataset = rng.choice(datasets)
        batch.append(
            AuditEntry(
                decision_id=str(uuid.UUID(int=rng.getrandbits(128))),
                recorded_at=start + timedelta(seconds=i * 15),
                subject=rng.choice(subjects),
                action="read",
                dataset=dataset,
                purpose=purpose,
                decision="allow" if allowed else "deny",
                reason="bench",
                policy_version="v" * 64,
                payload={
                    "request": {"purpose": purpose},
                    "obligations": rng.choice(shapes[purpose]) if allowed else [],
                    "row_filter": None,
                    "matched_rule": None,
                    "consent_records": [],
                },
            )
        )
        if len(batch) == 20_000:
            audit.append(batch)
            batch = []
            if (i + 1) % 200_000 == 0:
                print(f"    {i + 1:>9,} decisions", flush=True)
    if batch:
        audit.append(batch)
    return time.perf_counter() - started


def run(url: str, label: str, nodes: int, decisions: int, governed: int) -> None:
    rng = random.Random(20261201)
    upgrade(url)
    db = create_database(url)
    store = SqlLineageStore(db)
    events, gids, _ = build_graph(nodes, 7)
    print(f"\n### {label}\n\nlineage: {len(events):,} events", flush=True)
    ingest(store, events)
    datasets = [g for g in gids if g.startswith("dataset")]
    last = [g for g in datasets if split_gid(g)[2].startswith("l10.")]
    _, namespace, name = split_gid(last[0] if last else datasets[-1])
    model = f"{namespace}/{name}"
    store.write([parse_event(model_event(namespace, name))])
    names = [f"{split_gid(g)[1]}/{split_gid(g)[2]}" for g in datasets]
    # the service governs the reads of a few thousand tables (the ones pipelines and people
    # read through it), not every intermediate dataset a pipeline writes: a sample of the graph
    names = sorted(rng.sample(names, min(governed, len(names))))
    print(f"decisions: {decisions:,} over {len(names):,} governed datasets", flush=True)
    took = fill_decisions(db, names, decisions, rng)
    print(f"    appended in {took:.0f} s", flush=True)
    # the service's background indexer (governance.reports.facts) does this off the decision
    # path as records arrive; a report catches up only what arrived since its last round
    started = time.perf_counter()
    indexed = FactIndexer(db).catch_up()
    index_s = time.perf_counter() - started
    print(
        f"    indexed for reports in {index_s:.0f} s ({indexed / index_s:,.0f} records/s, "
        "in the background)",
        flush=True,
    )
    pdp = PolicyDecisionPoint.from_directory(ROOT / "policies", run_tests=False)
    sources = ReportSources(db, lambda: pdp.bundle, AuditLog(db, b""), store, None)
    until = datetime.now(UTC)

    def timed(fn: Any) -> tuple[float, Any]:
        started = time.perf_counter()
        value = fn()
        return time.perf_counter() - started, value

    ropa_s, ropa = timed(lambda: build_ropa(sources, None, until))
    ai_s, ai = timed(lambda: build_ai(sources, model, None, until))
    upstream = sorted(n.id for n in ai.lineage_nodes if n.kind != "job")
    naive_ropa_s, naive = timed(lambda: usage_naive(db, names))
    naive_ai_s, _ = timed(lambda: usage_naive(db, upstream))
    counted = sum(a.decisions_allowed + a.decisions_denied for a in ropa.activities)
    assert counted == sum(u.count for u in naive), (counted, sum(u.count for u in naive))
    print(
        f"\nROPA: {len(ropa.activities)} activities, {counted:,} decisions, "
        f"{len(ropa.divergences)} divergence(s); AI report of {model}: "
        f"{len(ai.lineage_nodes)} lineage nodes, {len(ai.source_columns)} source columns\n"
    )
    print("| report | service (grouped facts) s | baseline (a query per dataset) s | speed-up |")
    print("|---|---|---|---|")
    print(
        f"| record of processing | {ropa_s:.2f} | {naive_ropa_s:.2f} | {naive_ropa_s / ropa_s:.1f}x |"
    )
    print(
        f"| AI report ({len(upstream)} upstream datasets) | {ai_s:.2f} | {naive_ai_s:.2f} | {naive_ai_s / ai_s:.1f}x |"
    )
    verdict = "met" if ropa_s < 10 and ai_s < 10 else "NOT met"
    print(f"\ngoal (each under 10 s): {verdict}")
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--governed", type=int, default=2_000, help="datasets decided on")
    parser.add_argument("--postgres", help="a PostgreSQL URL (a fresh database is made in it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run(f"sqlite:///{tmp}/reports.db", "SQLite", args.nodes, args.decisions, args.governed)
    if args.postgres:
        admin = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
        name = f"bench_reports_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = sa.engine.make_url(args.postgres).set(database=name).render_as_string(False)
        try:
            run(url, "PostgreSQL", args.nodes, args.decisions, args.governed)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()


if __name__ == "__main__":
    main()
