"""Lineage queries on a 100,000-node graph: Neo4j against the embedded SQL store.

The graph: 20 domains (web shop, app, POS, call centre, CRM … by region), each a layered
pipeline 11 dataset layers deep (raw → staging → … → features → models), 40% jobs and 60%
datasets. Every job reads 1-6 datasets (mostly from the layer before, some from any earlier
layer, a few from another domain) and writes 1-3 new ones; inputs are picked with preferential
attachment, so a few hub tables feed hundreds of jobs (realistic fan-in and fan-out). Every
dataset has 10 fields, and every output field has column lineage from 1-2 input fields.
It is ingested as OpenLineage COMPLETE events through each store's own batched write path.

Then, from random dataset and job nodes, it times upstream plus downstream at depth 20:
``store.walk`` (the traversal) and the whole Marquez-shaped ``GET /api/v1/lineage`` body
(``LineageQueries.lineage``, node data included). A column-lineage row does the same from
random fields. Marquez users report 10-15 s for the lineage query in production
(MarquezProject/marquez#3058); that figure is quoted, not measured here.

    python bench/lineage_query.py [--nodes 100000] [--queries 200] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lineage.events import field_key, parse_event  # noqa: E402
from lineage.neo4j_server import Neo4jServer  # noqa: E402
from lineage.queries import LineageQueries  # noqa: E402
from lineage.store import LineageStore, dataset_gid, job_gid, split_gid  # noqa: E402

FIELDS = [f"f{i}" for i in range(10)]
DOMAINS = [
    f"{channel}.{region}"
    for channel in ("webshop", "app", "pos", "callcentre", "crm")
    for region in ("eu", "us", "uk", "apac")
]
LAYERS = 11
PRODUCER = "https://github.com/example/bench"


def facet(**kw: Any) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": "https://openlineage.io/spec/facets/x.json", **kw}


def build_graph(total: int, seed: int) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """OpenLineage COMPLETE events for ``total`` jobs + datasets; also their gids and field keys."""
    rng = random.Random(seed)
    n_jobs = int(total * 0.4)
    n_datasets = total - n_jobs
    outputs_mean = 1.3
    raw_per_domain = max(1, int((n_datasets - n_jobs * outputs_mean) / len(DOMAINS)))
    jobs_per_layer = max(1, n_jobs // (len(DOMAINS) * (LAYERS - 1)))
    # per domain: datasets by layer, and consumer counts (for preferential attachment)
    layers: dict[str, list[list[str]]] = {d: [[] for _ in range(LAYERS)] for d in DOMAINS}
    consumers: dict[tuple[str, str], int] = {}
    datasets = 0
    for domain in DOMAINS:
        for i in range(raw_per_domain):
            layers[domain][0].append(f"raw.t{i}")
            consumers[(domain, f"raw.t{i}")] = 0
            datasets += 1
    events: list[dict[str, Any]] = []
    gids: list[str] = []
    jobs = 0

    def pick(domain: str, pool: Sequence[str]) -> str:
        weights = [1 + consumers[(domain, name)] for name in pool]
        return rng.choices(pool, weights=weights)[0]

    for layer in range(1, LAYERS):
        for domain in DOMAINS:
            for j in range(jobs_per_layer):
                if jobs >= n_jobs:
                    break
                fan_in = min(6, 1 + int(rng.expovariate(0.6)))
                inputs: list[tuple[str, str]] = []
                for _ in range(fan_in):
                    source_domain = domain
                    if rng.random() < 0.03:
                        source_domain = rng.choice(DOMAINS)
                    if rng.random() < 0.7 or layer == 1:
                        pool = layers[source_domain][layer - 1]
                    else:
                        pool = layers[source_domain][rng.randrange(layer - 1)]
                    if not pool:
                        continue
                    chosen = (source_domain, pick(source_domain, pool))
                    if chosen not in inputs:
                        inputs.append(chosen)
                        consumers[chosen] += 1
                roll = rng.random()
                fan_out = 1 if roll < 0.75 else 2 if roll < 0.95 else 3
                fan_out = min(fan_out, max(1, n_datasets - datasets))
                outputs = []
                for k in range(fan_out):
                    name = f"l{layer}.job{j}.out{k}"
                    layers[domain][layer].append(name)
                    consumers[(domain, name)] = 0
                    outputs.append((domain, name))
                    datasets += 1
                events.append(_event(rng, domain, f"l{layer}.job{j}", inputs, outputs, jobs))
                gids.append(job_gid(domain, f"l{layer}.job{j}"))
                jobs += 1
    seen = {  # datasets that some event names (an unread raw table is not in the graph)
        dataset_gid(d["namespace"], d["name"]) for e in events for d in e["inputs"] + e["outputs"]
    }
    gids.extend(sorted(seen))
    keys = []
    for gid in gids:
        kind, namespace, name = split_gid(gid)
        if kind == "dataset":
            keys.extend(field_key(namespace, name, f) for f in FIELDS[:2])
    return events, gids, keys


def _event(
    rng: random.Random,
    namespace: str,
    job: str,
    inputs: list[tuple[str, str]],
    outputs: list[tuple[str, str]],
    i: int,
) -> dict[str, Any]:
    schema = facet(fields=[{"name": f, "type": "VARCHAR"} for f in FIELDS])

    def lineage() -> dict[str, Any]:
        fields = {}
        for f in FIELDS:
            sources = rng.sample(inputs, k=min(len(inputs), rng.choice((1, 1, 2))))
            fields[f] = {
                "inputFields": [
                    {"namespace": ns, "name": name, "field": rng.choice(FIELDS)}
                    for ns, name in sources
                ]
            }
        return facet(fields=fields)

    return {
        "eventType": "COMPLETE",
        "eventTime": f"2026-11-{1 + i // 86400 % 27:02d}T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": f"00000000-0000-4000-8000-{i:012d}"},
        "job": {"namespace": namespace, "name": job},
        "inputs": [
            {"namespace": ns, "name": name, "facets": {"schema": schema}} for ns, name in inputs
        ],
        "outputs": [
            {
                "namespace": ns,
                "name": name,
                "facets": {"schema": schema, **({"columnLineage": lineage()} if inputs else {})},
            }
            for ns, name in outputs
        ],
    }


def ingest(store: LineageStore, events: list[dict[str, Any]], batch: int = 1000) -> float:
    started = time.perf_counter()
    for i in range(0, len(events), batch):
        store.write([parse_event(e) for e in events[i : i + batch]])
        done = min(i + batch, len(events))
        if done % 10_000 == 0 or done == len(events):
            print(f"    {done:>7,} events", flush=True)
    return time.perf_counter() - started


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "p50": at(0.50),
        "p95": at(0.95),
        "p99": at(0.99),
        "max": ordered[-1],
        "mean": statistics.fmean(ordered),
    }


def timed(fn: Callable[[str], int], starts: list[str]) -> tuple[dict[str, float], float]:
    for s in starts[:10]:  # warm caches and query plans
        fn(s)
    samples: list[float] = []
    sizes: list[int] = []
    for s in starts:
        t = time.perf_counter()
        sizes.append(fn(s))
        samples.append((time.perf_counter() - t) * 1000)
    return percentiles(samples), statistics.fmean(sizes)


def row(label: str, figures: dict[str, float], size: float) -> str:
    return (
        f"  {label:<44} p50 {figures['p50']:>8.1f}  p95 {figures['p95']:>8.1f}  "
        f"p99 {figures['p99']:>8.1f}  max {figures['max']:>8.1f} ms   ~{size:,.0f} nodes"
    )


def measure(
    name: str, store: LineageStore, starts: list[str], fields: list[str], depth: int
) -> dict[str, float]:
    queries = LineageQueries(store)

    def walk(gid: str) -> int:
        return len(store.walk(gid, depth=depth, direction="both").nodes)

    def marquez(gid: str) -> int:
        kind, namespace, name = split_gid(gid)
        return len(queries.lineage(f"{kind}:{namespace}:{name}", depth)["graph"])

    def columns(key: str) -> int:
        return len(store.field_walk(key, depth=depth, direction="both").nodes)

    print(f"\n{name}: upstream + downstream, depth {depth}, {len(starts)} random start nodes")
    w, ws = timed(walk, starts)
    print(row("traversal (store.walk)", w, ws))
    m, ms = timed(marquez, starts)
    print(row("Marquez-shaped /api/v1/lineage body", m, ms))
    c, cs = timed(columns, fields)
    print(row("column lineage (store.field_walk)", c, cs))
    return m


def main() -> None:
    from governance.runtime import tune_gc

    tune_gc(50_000)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=100_000, help="datasets + jobs")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--seed", type=int, default=3058)
    parser.add_argument("--postgres-url", help="also measure the SQL store on this PostgreSQL")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()

    events, gids, fields = build_graph(args.nodes, args.seed)
    rng = random.Random(args.seed + 1)
    starts = rng.sample(gids, min(args.queries, len(gids)))
    field_starts = rng.sample(fields, min(args.queries, len(fields)))
    print(
        f"graph: {len(events):,} jobs (one COMPLETE event each), "
        f"{len(gids) - len(events):,} datasets, 10 fields per dataset, column lineage on every output"
    )
    work = Path(tempfile.mkdtemp(prefix="lineage-query-"))
    results: dict[str, dict[str, float]] = {}

    server = Neo4jServer(work / "neo4j", heap="2g", page_cache_mb=1024)
    print("starting Neo4j 5.26 (launcher) ...", flush=True)
    server.start()
    from lineage.store.neo4j import Neo4jLineageStore

    neo = Neo4jLineageStore(server.uri)
    try:
        neo.setup()
        print("  ingesting into Neo4j ...", flush=True)
        took = ingest(neo, events)
        print(f"  Neo4j: {neo.stats()}  ({len(events) / took:,.0f} events/s)")
        results["Neo4j"] = measure("Neo4j 5.26", neo, starts, field_starts, args.depth)
    finally:
        neo.close()
        server.stop()

    from governance.db import create_database
    from governance.schema import upgrade
    from lineage.store.sql import SqlLineageStore

    sql_targets = (
        [] if args.skip_sqlite else [("embedded store, SQLite", f"sqlite:///{work / 'lineage.db'}")]
    )
    if args.postgres_url:
        sql_targets.append(("embedded store, PostgreSQL", args.postgres_url))
    for label, url in sql_targets:
        upgrade(url)
        db = create_database(url)
        sql = SqlLineageStore(db)
        try:
            sql.reset()
            print(f"  ingesting into the {label} ...", flush=True)
            took = ingest(sql, events)
            print(f"  {label}: {sql.stats()}  ({len(events) / took:,.0f} events/s)")
            results[label] = measure(label, sql, starts, field_starts, args.depth)
        finally:
            db.dispose()

    print("\nsummary, whole Marquez-shaped lineage answer (upstream + downstream, depth 20):")
    for label, figures in results.items():
        print(f"  {label:<30} p95 {figures['p95']:>8.1f} ms   p99 {figures['p99']:>8.1f} ms")
    print("  Marquez in production (#3058, reported) 10,000-15,000 ms")
    p95 = results["Neo4j"]["p95"]
    print(f"\ntarget p95 ≤ 100 ms in Neo4j: {p95:.1f} ms  {'met' if p95 <= 100 else 'NOT met'}")


if __name__ == "__main__":
    main()
