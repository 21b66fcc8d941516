"""The production lineage graph in Neo4j: Cypher, batched ``UNWIND … MERGE``, no APOC.

Nodes: ``Namespace``, ``Dataset`` and ``Job`` (both also ``LineageNode`` with a unique ``gid``),
``Run``, ``Field``, ``Classification``. Relationships: ``(Dataset)-[:CONSUMED_BY]->(Job)``,
``(Job)-[:PRODUCES]->(Dataset)`` (so downstream is always outgoing), ``(Job)-[:HAS_RUN]->(Run)``,
``(Run)-[:READ|WROTE]->(Dataset)``, ``(Dataset)-[:HAS_FIELD]->(Field)``,
``(Field)-[:DERIVED_FROM {type, subtype, masking, jobs}]->(Field)`` (``jobs``: the jobs whose
column lineage declared it),
``(Field)-[:CLASSIFIED_AS {source, confidence}]->(Classification)``.

Every SET is a min, a max, or "attributes of the maximal (time, content) event", so writes are
idempotent and order-insensitive. Driver errors become ``Unavailable`` at this boundary.

Times are stored as integer UTC epoch microseconds: the Python driver encodes a ``datetime``
parameter about 20 times slower than an integer, which dominated batch writes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import neo4j
from neo4j.exceptions import DatabaseUnavailable, Neo4jError, ServiceUnavailable, SessionExpired

from governance.errors import Unavailable
from lineage.events import LineageEvent
from lineage.store import (
    ClassificationRecord,
    DatasetRecord,
    Direction,
    FieldEdge,
    FieldWalk,
    JobRecord,
    NamespaceRecord,
    RunRecord,
    StoreStats,
    Walk,
    dataset_fields,
    split_gid,
    stored_facets,
)
from lineage.store.batch import GraphBatch, build_batch

T = TypeVar("T")

SCHEMA = [
    "CREATE CONSTRAINT lineage_node_gid IF NOT EXISTS FOR (n:LineageNode) REQUIRE n.gid IS UNIQUE",
    "CREATE CONSTRAINT field_key IF NOT EXISTS FOR (f:Field) REQUIRE f.key IS UNIQUE",
    "CREATE CONSTRAINT run_id IF NOT EXISTS FOR (r:Run) REQUIRE r.runId IS UNIQUE",
    "CREATE CONSTRAINT namespace_name IF NOT EXISTS FOR (n:Namespace) REQUIRE n.name IS UNIQUE",
    "CREATE CONSTRAINT classification_name IF NOT EXISTS FOR (c:Classification) REQUIRE c.name IS UNIQUE",
    "CREATE INDEX dataset_namespace IF NOT EXISTS FOR (d:Dataset) ON (d.namespace)",
    "CREATE INDEX job_namespace IF NOT EXISTS FOR (j:Job) ON (j.namespace)",
    "CREATE INDEX run_job IF NOT EXISTS FOR (r:Run) ON (r.jobGid)",
]

_NEWER = (
    "row.has_attrs AND (n.attrTime IS NULL OR row.attr_time > n.attrTime "
    "OR (row.attr_time = n.attrTime AND row.content > n.content))"
)

# Each statement SETs only rows that change something: most rows of a steady stream are
# already in the graph, and writing unchanged values still fills the transaction log.
_UPSERT_NAMESPACES = """
UNWIND $rows AS row
MERGE (n:Namespace {name: row.name})
ON CREATE SET n.createdAt = row.first, n.updatedAt = row.last
WITH n, row WHERE row.first < n.createdAt OR row.last > n.updatedAt
SET n.createdAt = CASE WHEN row.first < n.createdAt THEN row.first ELSE n.createdAt END,
    n.updatedAt = CASE WHEN row.last > n.updatedAt THEN row.last ELSE n.updatedAt END
"""

_NEWER_SCHEMA = (
    "row.schema_time IS NOT NULL AND (n.schemaTime IS NULL OR row.schema_time > n.schemaTime "
    "OR (row.schema_time = n.schemaTime AND row.schema > n.schema))"
)


def _only_if(condition: str, assignments: str) -> str:
    """A SET that happens only when ``condition`` holds (nothing is written otherwise)."""
    return f"FOREACH (_ IN CASE WHEN {condition} THEN [1] ELSE [] END | SET {assignments})\n"


_SPAN_WRITES = _only_if("row.first < n.createdAt", "n.createdAt = row.first") + _only_if(
    "row.last > n.updatedAt", "n.updatedAt = row.last"
)

_UPSERT_DATASETS = (
    f"""
UNWIND $rows AS row
MERGE (n:LineageNode {{gid: row.gid}})
ON CREATE SET n:Dataset, n.namespace = row.namespace, n.name = row.name,
              n.createdAt = row.first, n.updatedAt = row.last, n.content = '{{}}', n.schema = '[]'
WITH n, row, {_NEWER} AS newer, {_NEWER_SCHEMA} AS newer_schema
WHERE newer OR newer_schema OR row.first < n.createdAt OR row.last > n.updatedAt
"""
    + _SPAN_WRITES
    + _only_if("newer", "n.attrTime = row.attr_time")
    + _only_if(
        "newer AND row.content <> n.content",
        "n.content = row.content, n.sourceName = row.source_name, "
        "n.description = row.description, n.datasetType = row.dataset_type",
    )
    + _only_if("newer_schema", "n.schemaTime = row.schema_time")
    + _only_if("newer_schema AND row.schema <> n.schema", "n.schema = row.schema")
)

_UPSERT_JOBS = (
    f"""
UNWIND $rows AS row
MERGE (n:LineageNode {{gid: row.gid}})
ON CREATE SET n:Job, n.namespace = row.namespace, n.name = row.name,
              n.createdAt = row.first, n.updatedAt = row.last, n.content = '{{}}'
WITH n, row, {_NEWER} AS newer
WHERE newer OR row.first < n.createdAt OR row.last > n.updatedAt
"""
    + _SPAN_WRITES
    + _only_if("newer", "n.attrTime = row.attr_time")
    + _only_if(
        "newer AND row.content <> n.content",
        "n.content = row.content, n.jobType = row.job_type, n.description = row.description",
    )
)

_UPSERT_FIELDS = """
UNWIND $rows AS row
UNWIND row.names AS name
MERGE (f:Field {key: row.prefix + name})
ON CREATE SET f.name = name, f.datasetGid = row.gid, f.fresh = true
WITH row, f WHERE f.fresh
MATCH (d:LineageNode {gid: row.gid})
CREATE (d)-[:HAS_FIELD]->(f)
REMOVE f.fresh
"""

_EDGE_SPAN = """
ON CREATE SET e.firstSeen = row.first
WITH e, row WHERE row.first < e.firstSeen
SET e.firstSeen = row.first
"""

_UPSERT_CONSUMED = (
    "UNWIND $rows AS row MATCH (a:LineageNode {gid: row.src}) MATCH (b:LineageNode {gid: row.dst}) "
    "MERGE (a)-[e:CONSUMED_BY]->(b)" + _EDGE_SPAN
)
_UPSERT_PRODUCES = (
    "UNWIND $rows AS row MATCH (a:LineageNode {gid: row.src}) MATCH (b:LineageNode {gid: row.dst}) "
    "MERGE (a)-[e:PRODUCES]->(b)" + _EDGE_SPAN
)

_UPSERT_RUNS = (
    """
UNWIND $rows AS row
MERGE (r:Run {runId: row.run_id})
ON CREATE SET r.jobGid = row.job_gid, r.state = 'NEW', r.stateRank = -1, r.stateTime = row.state_time,
              r.createdAt = row.first, r.updatedAt = row.last, r.content = '{}'
WITH r, row,
     (row.state_rank > r.stateRank OR (row.state_rank = r.stateRank AND
       (row.state_time > r.stateTime OR (row.state_time = r.stateTime AND row.state > r.state)))) AS better,
     (row.has_attrs AND (r.attrTime IS NULL OR row.attr_time > r.attrTime
       OR (row.attr_time = r.attrTime AND row.content > r.content))) AS newer
SET r.state = CASE WHEN better THEN row.state ELSE r.state END,
    r.stateRank = CASE WHEN better THEN row.state_rank ELSE r.stateRank END,
    r.stateTime = CASE WHEN better THEN row.state_time ELSE r.stateTime END,
    r.startedAt = CASE WHEN row.started_at IS NOT NULL AND (r.startedAt IS NULL OR row.started_at < r.startedAt)
                       THEN row.started_at ELSE r.startedAt END,
    r.endedAt = CASE WHEN row.ended_at IS NOT NULL AND (r.endedAt IS NULL OR row.ended_at > r.endedAt)
                     THEN row.ended_at ELSE r.endedAt END,
    r.createdAt = CASE WHEN row.first < r.createdAt THEN row.first ELSE r.createdAt END,
    r.updatedAt = CASE WHEN row.last > r.updatedAt THEN row.last ELSE r.updatedAt END,
    r.parentRunId = CASE WHEN row.parent IS NOT NULL AND (r.parentRunId IS NULL OR row.parent < r.parentRunId)
                         THEN row.parent ELSE r.parentRunId END,
    r.content = CASE WHEN newer THEN row.content ELSE r.content END,
    r.attrTime = CASE WHEN newer THEN row.attr_time ELSE r.attrTime END,
    r.jobGid = CASE WHEN row.job_gid < r.jobGid THEN row.job_gid ELSE r.jobGid END
WITH r
MATCH (j:LineageNode {gid: r.jobGid})
MERGE (j)-[:HAS_RUN]->(r)
"""
    + _only_if(
        # the job's latest run (Marquez's latestRun), kept as a pointer: the newest (updatedAt,
        # runId) only grows, so comparing each written run with the pointer keeps it exact
        "j.latestRunAt IS NULL OR r.updatedAt > j.latestRunAt "
        "OR (r.updatedAt = j.latestRunAt AND r.runId >= j.latestRunId)",
        "j.latestRunAt = r.updatedAt, j.latestRunId = r.runId",
    )
    + """WITH r
OPTIONAL MATCH (other:LineageNode)-[stale:HAS_RUN]->(r) WHERE other.gid <> r.jobGid
DELETE stale
"""
)

_UPSERT_READ = """
UNWIND $rows AS row MATCH (r:Run {runId: row.run_id}) MATCH (d:LineageNode {gid: row.dataset_gid})
MERGE (r)-[e:READ]->(d) ON CREATE SET e.at = row.at
WITH e, row WHERE row.at < e.at SET e.at = row.at
"""
_UPSERT_WROTE = _UPSERT_READ.replace(":READ]", ":WROTE]")

# ``jobs``: the jobs whose column lineage declared the edge (a set kept as a list)
_UPSERT_FIELD_EDGES = """
UNWIND $rows AS row MATCH (o:Field {key: row.output}) MATCH (i:Field {key: row.input})
MERGE (o)-[e:DERIVED_FROM {type: row.type, subtype: row.subtype}]->(i)
ON CREATE SET e.description = row.description, e.masking = row.masking, e.firstSeen = row.first,
              e.jobs = row.jobs
WITH e, row, [j IN row.jobs WHERE NOT j IN e.jobs] AS new_jobs
WHERE row.first < e.firstSeen OR (row.masking AND NOT e.masking) OR row.description > e.description
      OR size(new_jobs) > 0
SET e.masking = e.masking OR row.masking,
    e.description = CASE WHEN row.description > e.description THEN row.description ELSE e.description END,
    e.firstSeen = CASE WHEN row.first < e.firstSeen THEN row.first ELSE e.firstSeen END,
    e.jobs = e.jobs + new_jobs
"""

_UPSERT_CLASSIFICATIONS = """
UNWIND $rows AS row
MATCH (f:Field {key: row.field})
MERGE (c:Classification {name: row.pii_type})
MERGE (f)-[e:CLASSIFIED_AS {source: row.source}]->(c)
ON CREATE SET e.confidence = row.confidence, e.at = row.at
WITH e, row WHERE row.at > e.at OR (row.at = e.at AND row.confidence > e.confidence)
SET e.confidence = row.confidence, e.at = row.at
"""


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _at(value: Any) -> datetime:
    """A timestamp that must be there."""
    out = _native(value)
    assert out is not None
    return out


_EPOCH_QUERY = (
    "MERGE (m:LineageMeta {id: 1}) ON CREATE SET m.epoch = randomUUID() RETURN m.epoch AS epoch"
)
_KNOWN_LIMIT = 2_000_000


class _Known:
    """Facts this process has committed to the graph, to skip rows that cannot change anything.

    Every merge rule is monotone (min first-seen, OR masking, max description, union of jobs),
    so a row at least as "old" as a committed fact changes nothing, whoever else writes. The
    graph's epoch (a ``LineageMeta`` node, new after a reset) invalidates the cache.
    """

    def __init__(self) -> None:
        self.epoch: str | None = None
        self.fields: set[str] = set()
        self.edges: dict[tuple[str, str], int] = {}
        self.field_edges: dict[
            tuple[str, str, str, str], tuple[int, bool, str, frozenset[str]]
        ] = {}
        self.lock = threading.Lock()

    def _check(self, epoch: str) -> None:
        size = len(self.fields) + len(self.edges) + len(self.field_edges)
        if epoch != self.epoch or size > _KNOWN_LIMIT:
            self.epoch = epoch
            self.fields.clear()
            self.edges.clear()
            self.field_edges.clear()

    def unneeded_removed(
        self, epoch: str, rows: dict[str, list[dict[str, Any]]]
    ) -> dict[str, list[dict[str, Any]]]:
        with self.lock:
            self._check(epoch)
            out = dict(rows)
            fields = []
            for row in rows["fields"]:
                names = [n for n in row["names"] if row["prefix"] + n not in self.fields]
                if names:
                    fields.append({**row, "names": names})
            out["fields"] = fields
            for name in ("consumed", "produces"):
                out[name] = [
                    r
                    for r in rows[name]
                    if (seen := self.edges.get((r["src"], r["dst"]))) is None or r["first"] < seen
                ]
            edges = []
            for r in rows["field_edges"]:
                seen_edge = self.field_edges.get((r["output"], r["input"], r["type"], r["subtype"]))
                if (
                    seen_edge is None
                    or r["first"] < seen_edge[0]
                    or (r["masking"] and not seen_edge[1])
                    or r["description"] > seen_edge[2]
                    or not set(r["jobs"]) <= seen_edge[3]
                ):
                    edges.append(r)
            out["field_edges"] = edges
            return out

    def remember(self, sent: dict[str, list[dict[str, Any]]]) -> None:
        with self.lock:
            for row in sent["fields"]:
                self.fields.update(row["prefix"] + n for n in row["names"])
            for name in ("consumed", "produces"):
                for r in sent[name]:
                    key = (r["src"], r["dst"])
                    self.edges[key] = min(r["first"], self.edges.get(key, r["first"]))
            for r in sent["field_edges"]:
                key4 = (r["output"], r["input"], r["type"], r["subtype"])
                old = self.field_edges.get(key4)
                if old is None:
                    self.field_edges[key4] = (
                        r["first"],
                        r["masking"],
                        r["description"],
                        frozenset(r["jobs"]),
                    )
                else:
                    self.field_edges[key4] = (
                        min(old[0], r["first"]),
                        old[1] or r["masking"],
                        max(old[2], r["description"]),
                        old[3] | frozenset(r["jobs"]),
                    )


def _us(value: datetime | None) -> int | None:
    """UTC epoch microseconds, exact (no float rounding)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _native(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, int):
        return _EPOCH + timedelta(microseconds=value)
    if hasattr(value, "to_native"):
        value = value.to_native()
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _rows(batch: GraphBatch) -> dict[str, list[dict[str, Any]]]:
    rows = _raw_rows(batch)
    for items in rows.values():
        for row in items:
            for key, value in row.items():
                if isinstance(value, datetime):
                    row[key] = _us(value)
    return rows


def _fields_by_dataset(batch: GraphBatch) -> list[dict[str, Any]]:
    grouped: dict[str, list[str]] = {}
    for f in batch.fields.values():
        grouped.setdefault(f.dataset_gid, []).append(f.name)
    out = []
    for gid, names in grouped.items():
        _, namespace, name = split_gid(gid)
        out.append({"gid": gid, "prefix": f"{namespace}\x1f{name}\x1f", "names": sorted(names)})
    return out


def _raw_rows(batch: GraphBatch) -> dict[str, list[dict[str, Any]]]:
    return {
        "namespaces": [
            {"name": n, "first": s.first, "last": s.last} for n, s in batch.namespaces.items()
        ],
        "datasets": [
            {
                "gid": d.gid,
                "namespace": d.namespace,
                "name": d.name,
                "first": d.span.first,
                "last": d.span.last,
                "has_attrs": d.attr_time is not None,
                "attr_time": d.attr_time,
                "source_name": d.source_name,
                "description": d.description,
                "dataset_type": d.dataset_type,
                "content": d.facets,
                "schema_time": d.schema_time,
                "schema": d.schema,
            }
            for d in batch.datasets.values()
        ],
        "jobs": [
            {
                "gid": j.gid,
                "namespace": j.namespace,
                "name": j.name,
                "first": j.span.first,
                "last": j.span.last,
                "has_attrs": j.attr_time is not None,
                "attr_time": j.attr_time,
                "job_type": j.job_type,
                "description": j.description,
                "content": j.facets,
            }
            for j in batch.jobs.values()
        ],
        "fields": _fields_by_dataset(batch),
        "consumed": [
            {"src": s, "dst": d, "first": sp.first, "last": sp.last}
            for (s, d), sp in batch.edges.items()
            if s.startswith("dataset")
        ],
        "produces": [
            {"src": s, "dst": d, "first": sp.first, "last": sp.last}
            for (s, d), sp in batch.edges.items()
            if s.startswith("job")
        ],
        "runs": [
            {
                "run_id": r.run_id,
                "job_gid": r.job_gid,
                "state": r.state,
                "state_rank": r.state_rank,
                "state_time": r.state_time,
                "started_at": r.started_at,
                "ended_at": r.ended_at,
                "first": r.span.first,
                "last": r.span.last,
                "parent": r.parent_run_id,
                "has_attrs": r.attr_time is not None,
                "attr_time": r.attr_time,
                "content": r.facets,
            }
            for r in batch.runs.values()
        ],
        "reads": [
            {"run_id": r, "dataset_gid": d, "at": at}
            for (r, d, side), at in batch.run_io.items()
            if side == "in"
        ],
        "writes": [
            {"run_id": r, "dataset_gid": d, "at": at}
            for (r, d, side), at in batch.run_io.items()
            if side == "out"
        ],
        "field_edges": [
            {
                "output": e.output,
                "input": e.input,
                "type": e.type,
                "subtype": e.subtype,
                "description": e.description,
                "masking": e.masking,
                "first": e.span.first,
                "last": e.span.last,
                "jobs": list(e.jobs) if len(e.jobs) < 2 else sorted(e.jobs),
            }
            for e in batch.field_edges.values()
        ],
        "classifications": [
            {"field": f, "pii_type": t, "source": src, "confidence": conf, "at": at}
            for (f, t, src), (conf, at) in batch.classifications.items()
        ],
    }


_STATEMENTS = [
    ("namespaces", _UPSERT_NAMESPACES),
    ("datasets", _UPSERT_DATASETS),
    ("jobs", _UPSERT_JOBS),
    ("fields", _UPSERT_FIELDS),
    ("consumed", _UPSERT_CONSUMED),
    ("produces", _UPSERT_PRODUCES),
    ("runs", _UPSERT_RUNS),
    ("reads", _UPSERT_READ),
    ("writes", _UPSERT_WROTE),
    ("field_edges", _UPSERT_FIELD_EDGES),
    ("classifications", _UPSERT_CLASSIFICATIONS),
]


class Neo4jLineageStore:
    """``LineageStore`` on a Neo4j server over Bolt."""

    backend = "neo4j"

    def __init__(
        self,
        uri: str,
        *,
        user: str = "neo4j",
        password: str = "",
        database: str = "neo4j",
        connect_timeout: float = 5.0,
    ) -> None:
        auth = (user, password) if password else None
        self._driver = neo4j.GraphDatabase.driver(
            uri,
            auth=auth,
            connection_timeout=connect_timeout,
            max_transaction_retry_time=connect_timeout,
            connection_acquisition_timeout=connect_timeout,
            # planner notices (e.g. a property no node has yet) are not for the service's log
            notifications_min_severity="OFF",
        )
        self._database = database
        self._known = _Known()

    # ---- plumbing -------------------------------------------------------------------------------

    def _call(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except (ServiceUnavailable, SessionExpired, DatabaseUnavailable, OSError) as exc:
            raise Unavailable(
                f"the lineage graph (Neo4j) is unavailable: {type(exc).__name__}"
            ) from exc
        except Neo4jError as exc:
            if exc.is_retryable():
                raise Unavailable(f"the lineage graph (Neo4j) is busy: {exc.code}") from exc
            raise

    def _read(self, query: str, **params: Any) -> list[neo4j.Record]:
        def run() -> list[neo4j.Record]:
            records, _, _ = self._driver.execute_query(
                query, params, database_=self._database, routing_=neo4j.RoutingControl.READ
            )
            return list(records)

        return self._call(run)

    def verify(self) -> None:
        self._call(self._driver.verify_connectivity)

    def setup(self) -> None:
        def run() -> None:
            with self._driver.session(database=self._database) as session:
                for statement in SCHEMA:
                    session.run(statement).consume()

        self._call(run)

    def close(self) -> None:
        self._driver.close()

    # ---- writes ---------------------------------------------------------------------------------

    def write(self, events: Sequence[LineageEvent]) -> None:
        self.write_prepared(self.prepare(events))

    def prepare(self, events: Sequence[LineageEvent]) -> dict[str, list[dict[str, Any]]]:
        return _rows(build_batch(events))

    def write_batch(self, batch: GraphBatch) -> None:
        self.write_prepared(_rows(batch))

    def write_prepared(self, prepared: Any) -> None:
        all_rows: dict[str, list[dict[str, Any]]] = prepared
        known = self._known

        def work(tx: neo4j.ManagedTransaction) -> dict[str, list[dict[str, Any]]]:
            epoch = tx.run(_EPOCH_QUERY).single(strict=True)["epoch"]
            rows = known.unneeded_removed(epoch, all_rows)
            for name, statement in _STATEMENTS:
                if rows[name]:
                    tx.run(statement, rows=rows[name]).consume()
            return rows

        def run() -> None:
            with self._driver.session(database=self._database) as session:
                sent = session.execute_write(work)
            known.remember(sent)  # only what is committed

        self._call(run)

    def classify(
        self, field_key: str, pii_type: str, *, source: str, confidence: float, at: datetime
    ) -> None:
        self.write_batch(GraphBatch.for_classification(field_key, pii_type, source, confidence, at))

    # ---- traversals -----------------------------------------------------------------------------

    def walk(
        self,
        start: str,
        *,
        depth: int,
        direction: Direction,
        as_of: datetime | None = None,
        records: bool = False,
    ) -> Walk:
        """Everything in one round trip, the datasets' and jobs' records too if asked."""
        result = Walk()
        edge_filter = "" if as_of is None else " WHERE e.firstSeen <= $asOf"
        rows = self._read(
            _reach_query(
                "LineageNode",
                "gid",
                "CONSUMED_BY|PRODUCES",
                ("-", "->"),
                max(0, int(depth)),
                direction,
                as_of,
                links=(
                    "OPTIONAL MATCH (a)-[e:CONSUMED_BY|PRODUCES]->(b:LineageNode)"
                    f"{edge_filter} WITH a, collect(b.gid) AS links"
                ),
                extra=f", a, {_NODE_DATA}" if records else "",
            ),
            key=start,
            asOf=_us(as_of),
        )
        if not rows:
            return result
        down, up = set(rows[0]["down"]), set(rows[0]["up"])
        reached = down | up | {start}
        forward = {item[0]: [b for b in item[1] if b in reached] for item in rows[0]["nodes"]}
        result.edges = {(a, b) for a, outs in forward.items() for b in outs}
        result.nodes = _distances(start, forward, down, up)
        if records:
            datasets, jobs = self._records([item[2:] for item in rows[0]["nodes"]])
            result.datasets, result.jobs = datasets, jobs
        return result

    def _records(
        self, items: Sequence[Sequence[Any]]
    ) -> tuple[dict[str, DatasetRecord], dict[str, JobRecord]]:
        """Records from ``[node, fields, inputs, outputs, latest]`` (see ``_NODE_DATA``)."""
        datasets: dict[str, DatasetRecord] = {}
        jobs: dict[str, JobRecord] = {}
        pending: dict[str, tuple[Any, Any, Any]] = {}
        for node, fields, inputs, outputs, latest in items:
            if "Dataset" in node.labels:
                datasets[node["gid"]] = _dataset_record(node, fields)
            elif "Job" in node.labels:
                if latest:
                    jobs[node["gid"]] = _job_record(
                        node, inputs, outputs, _run_record(latest[0], node)
                    )
                else:
                    pending[node["gid"]] = (node, inputs, outputs)
        if pending:  # no pointer (older graph, a run that moved, or no runs): look
            found = {
                r["gid"]: r["latest"]
                for r in self._read(
                    "UNWIND $gids AS g MATCH (j:LineageNode:Job {gid: g})-[:HAS_RUN]->(r:Run) "
                    "WITH j, r ORDER BY r.updatedAt DESC, r.runId DESC "
                    "RETURN j.gid AS gid, head(collect(r)) AS latest",
                    gids=sorted(pending),
                )
            }
            for gid, (node, inputs, outputs) in pending.items():
                run = found.get(gid)
                jobs[gid] = _job_record(
                    node, inputs, outputs, _run_record(run, node) if run is not None else None
                )
        return datasets, jobs

    def field_walk(
        self, start: str, *, depth: int, direction: Direction, as_of: datetime | None = None
    ) -> FieldWalk:
        out = FieldWalk()
        edge_filter = "" if as_of is None else " WHERE e.firstSeen <= $asOf"
        # DERIVED_FROM points from the derived field to its input: downstream is incoming
        rows = self._read(
            _reach_query(
                "Field",
                "key",
                "DERIVED_FROM",
                ("<-", "-"),
                max(0, int(depth)),
                direction,
                as_of,
                links=(
                    f"OPTIONAL MATCH (a)-[e:DERIVED_FROM]->(i:Field){edge_filter} "
                    "WITH a, collect(CASE WHEN i IS NULL THEN NULL ELSE "
                    "[i.key, e.type, e.subtype, e.description, e.masking, e.firstSeen] END) AS links"
                ),
            ),
            key=start,
            asOf=_us(as_of),
        )
        if not rows:
            return out
        down, up = set(rows[0]["down"]), set(rows[0]["up"])
        reached = down | up | {start}
        forward: dict[str, list[str]] = {}
        for o, links in rows[0]["nodes"]:
            for i, kind, subtype, description, masking, first in links:
                if i not in reached:
                    continue
                forward.setdefault(i, []).append(o)
                out.edges.append(
                    FieldEdge(
                        o,
                        i,
                        kind or "",
                        subtype or "",
                        description or "",
                        bool(masking),
                        _native(first),
                    )
                )
        out.nodes = _distances(start, forward, down, up)
        return out

    # ---- reads ----------------------------------------------------------------------------------

    def datasets(self, gids: Sequence[str]) -> dict[str, DatasetRecord]:
        rows = self._read(
            "UNWIND $gids AS g MATCH (d:LineageNode:Dataset {gid: g}) "
            "RETURN d, COLLECT { MATCH (d)-[:HAS_FIELD]->(f:Field) RETURN f.name } AS fields",
            gids=list(gids),
        )
        return {r["d"]["gid"]: _dataset_record(r["d"], r["fields"]) for r in rows}

    def jobs(self, gids: Sequence[str]) -> dict[str, JobRecord]:
        rows = self._read(
            f"UNWIND $gids AS g MATCH (a:LineageNode:Job {{gid: g}}) RETURN [a, {_NODE_DATA}] AS item",
            gids=list(gids),
        )
        return self._records([r["item"] for r in rows])[1]

    def namespaces(self) -> list[NamespaceRecord]:
        rows = self._read("MATCH (n:Namespace) RETURN n ORDER BY n.name")
        return [
            NamespaceRecord(r["n"]["name"], _at(r["n"]["createdAt"]), _at(r["n"]["updatedAt"]))
            for r in rows
        ]

    def list_datasets(
        self, namespace: str, limit: int, offset: int
    ) -> tuple[int, list[DatasetRecord]]:
        total = self._read("MATCH (d:Dataset {namespace: $ns}) RETURN count(d) AS c", ns=namespace)[
            0
        ]["c"]
        rows = self._read(
            "MATCH (d:Dataset {namespace: $ns}) WITH d ORDER BY d.name SKIP $offset LIMIT $limit "
            "OPTIONAL MATCH (d)-[:HAS_FIELD]->(f:Field) "
            "RETURN d, collect(f.name) AS fields ORDER BY d.name",
            ns=namespace,
            offset=offset,
            limit=limit,
        )
        return int(total), [_dataset_record(r["d"], r["fields"]) for r in rows]

    def list_jobs(self, namespace: str, limit: int, offset: int) -> tuple[int, list[JobRecord]]:
        total = self._read("MATCH (j:Job {namespace: $ns}) RETURN count(j) AS c", ns=namespace)[0][
            "c"
        ]
        names = self._read(
            "MATCH (j:Job {namespace: $ns}) RETURN j.gid AS gid ORDER BY j.name SKIP $offset LIMIT $limit",
            ns=namespace,
            offset=offset,
            limit=limit,
        )
        gids = [r["gid"] for r in names]
        jobs = self.jobs(gids)
        return int(total), [jobs[g] for g in gids if g in jobs]

    def runs(
        self, namespace: str, job: str, limit: int, offset: int
    ) -> tuple[int, list[RunRecord]]:
        gid = f"job\x1f{namespace}\x1f{job}"
        total = self._read(
            "MATCH (:LineageNode:Job {gid: $gid})-[:HAS_RUN]->(r:Run) RETURN count(r) AS c", gid=gid
        )[0]["c"]
        rows = self._read(
            "MATCH (j:LineageNode:Job {gid: $gid})-[:HAS_RUN]->(r:Run) "
            "WITH j, r ORDER BY r.createdAt DESC, r.runId DESC SKIP $offset LIMIT $limit "
            "OPTIONAL MATCH (r)-[:READ]->(i:Dataset) "
            "WITH j, r, collect(DISTINCT [i.namespace, i.name]) AS inputs "
            "OPTIONAL MATCH (r)-[:WROTE]->(o:Dataset) "
            "RETURN j, r, inputs, collect(DISTINCT [o.namespace, o.name]) AS outputs "
            "ORDER BY r.createdAt DESC, r.runId DESC",
            gid=gid,
            offset=offset,
            limit=limit,
        )
        return int(total), [_run_record(r["r"], r["j"], r["inputs"], r["outputs"]) for r in rows]

    def run(self, run_id: str) -> RunRecord | None:
        rows = self._read(
            "MATCH (j:Job)-[:HAS_RUN]->(r:Run {runId: $id}) "
            "OPTIONAL MATCH (r)-[:READ]->(i:Dataset) "
            "WITH j, r, collect(DISTINCT [i.namespace, i.name]) AS inputs "
            "OPTIONAL MATCH (r)-[:WROTE]->(o:Dataset) "
            "RETURN j, r, inputs, collect(DISTINCT [o.namespace, o.name]) AS outputs",
            id=run_id.lower(),
        )
        if not rows:
            return None
        r = rows[0]
        return _run_record(r["r"], r["j"], r["inputs"], r["outputs"])

    def classifications(self, field_keys: Sequence[str]) -> dict[str, list[ClassificationRecord]]:
        rows = self._read(
            "UNWIND $keys AS k MATCH (f:Field {key: k})-[e:CLASSIFIED_AS]->(c:Classification) "
            "RETURN f.key AS key, c.name AS type, e.source AS source, e.confidence AS confidence, e.at AS at",
            keys=list(field_keys),
        )
        out: dict[str, list[ClassificationRecord]] = {}
        for r in rows:
            out.setdefault(r["key"], []).append(
                ClassificationRecord(
                    r["key"], r["type"], r["source"], float(r["confidence"]), _native(r["at"])
                )
            )
        for records in out.values():
            records.sort(key=lambda c: (c.pii_type, c.source))
        return out

    def field_jobs(self, field_keys: Sequence[str]) -> dict[str, set[str]]:
        rows = self._read(
            "UNWIND $keys AS k MATCH (f:Field {key: k})-[e:DERIVED_FROM]->() "
            "UNWIND e.jobs AS gid RETURN DISTINCT f.key AS key, gid",
            keys=list(field_keys),
        )
        out: dict[str, set[str]] = {}
        for r in rows:
            out.setdefault(r["key"], set()).add(r["gid"])
        return out

    def readers(self, dataset_gids: Sequence[str]) -> dict[str, set[str]]:
        rows = self._read(
            "UNWIND $gids AS g MATCH (d:LineageNode:Dataset {gid: g})-[:CONSUMED_BY]->(j:Job) "
            "RETURN d.gid AS d, j.gid AS j",
            gids=list(dataset_gids),
        )
        out: dict[str, set[str]] = {}
        for r in rows:
            out.setdefault(r["d"], set()).add(r["j"])
        return out

    def stats(self) -> StoreStats:
        r = self._read(
            "CALL () { MATCH (n:Namespace) RETURN count(n) AS namespaces } "
            "CALL () { MATCH (d:Dataset) RETURN count(d) AS datasets } "
            "CALL () { MATCH (j:Job) RETURN count(j) AS jobs } "
            "CALL () { MATCH (r:Run) RETURN count(r) AS runs } "
            "CALL () { MATCH (f:Field) RETURN count(f) AS fields } "
            "CALL () { MATCH ()-[e:DERIVED_FROM]->() RETURN count(e) AS field_edges } "
            "RETURN namespaces, datasets, jobs, runs, fields, field_edges"
        )[0]
        return StoreStats(
            r["namespaces"], r["datasets"], r["jobs"], r["runs"], r["fields"], r["field_edges"]
        )

    def reset(self) -> None:
        """Delete the whole lineage graph (tests and rebuilds)."""

        def run() -> None:
            with self._driver.session(database=self._database) as session:
                session.run(
                    "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"
                ).consume()

        self._call(run)


# What the Marquez lineage answer shows of a node ``a`` (empty lists where a kind has none):
# a dataset's field names; a job's inputs, outputs and latest run (by its pointer)
_NODE_DATA = (
    "COLLECT { MATCH (a)-[:HAS_FIELD]->(f:Field) RETURN f.name }, "
    "COLLECT { MATCH (i:Dataset)-[:CONSUMED_BY]->(a) RETURN [i.namespace, i.name] }, "
    "COLLECT { MATCH (a)-[:PRODUCES]->(o:Dataset) RETURN [o.namespace, o.name] }, "
    "COLLECT { MATCH (a)-[:HAS_RUN]->(lr:Run {runId: a.latestRunId}) RETURN lr }"
)


def _reach_query(
    label: str,
    key: str,
    rels: str,
    downstream: tuple[str, str],
    depth: int,
    direction: Direction,
    as_of: datetime | None,
    *,
    links: str,
    extra: str = "",
) -> str:
    """Reach both ways from ``$key`` in one query (BFS-pruned), then ``links`` of each node.

    One row: ``down`` and ``up`` (the keys reached each way) and ``nodes``: ``[key, links]`` of
    every reached node, the start included, ``links`` being what ``links`` collected for it.
    """
    rel_filter = "" if as_of is None else " WHERE r.firstSeen <= $asOf"
    left, right = downstream
    arrows = {
        "down": (left, right),
        "up": ("<-" if right == "->" else "-", "->" if left == "<-" else "-"),
    }
    sides = []
    for side, (l_arrow, r_arrow) in arrows.items():
        wanted = direction in ("both", "downstream" if side == "down" else "upstream")
        if not wanted or depth == 0:
            sides.append(f"[] AS {side}")
            continue
        sides.append(
            f"COLLECT {{ MATCH (s)(()"
            f"{l_arrow}[r:{rels}{rel_filter}]{r_arrow}()){{1,{depth}}}(n) "
            f"RETURN DISTINCT n.{key} }} AS {side}"
        )
    # one row; grouping rows by the (long) down/up lists would hash them once per node
    return (
        f"MATCH (s:{label} {{{key}: $key}}) "
        f"WITH s, {sides[0]}, {sides[1]} "
        "CALL (s, down, up) { "
        f"UNWIND down + up + [s.{key}] AS g WITH DISTINCT g "
        f"MATCH (a:{label} {{{key}: g}}) "
        f"{links} "
        f"RETURN collect([a.{key}, links{extra}]) AS nodes }} "
        "RETURN down, up, nodes"
    )


def _distances(
    start: str, forward: dict[str, list[str]], down: set[str], up: set[str]
) -> dict[str, int]:
    """Hop distance from ``start``: downstream along edges, upstream against them; the nearer."""
    backward: dict[str, list[str]] = {}
    for a, outs in forward.items():
        for b in outs:
            backward.setdefault(b, []).append(a)
    out = {start: 0}
    for members, links in ((down, forward), (up, backward)):
        seen = {start: 0}
        frontier = [start]
        while frontier:
            nxt = []
            for n in frontier:
                for m in links.get(n, ()):
                    if m in members and m not in seen:
                        seen[m] = seen[n] + 1
                        nxt.append(m)
            frontier = nxt
        for n, d in seen.items():
            out[n] = min(d, out.get(n, d))
    for n in down | up:
        out.setdefault(n, -1)
    return out


def _dataset_record(d: Any, fields: list[str]) -> DatasetRecord:
    return DatasetRecord(
        namespace=d["namespace"],
        name=d["name"],
        created_at=_at(d["createdAt"]),
        updated_at=_at(d["updatedAt"]),
        source_name=d.get("sourceName"),
        description=d.get("description"),
        dataset_type=d.get("datasetType"),
        fields=dataset_fields(fields, d.get("schema")),
        facets=stored_facets(d.get("content")),
    )


def _pairs(items: Any) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((a, b) for a, b in items or [] if a is not None and b is not None))


def _run_record(r: Any, j: Any, inputs: Any = (), outputs: Any = ()) -> RunRecord:
    _, namespace, name = split_gid(j["gid"])
    return RunRecord(
        run_id=r["runId"],
        job_namespace=namespace,
        job_name=name,
        state=r["state"],
        created_at=_at(r["createdAt"]),
        updated_at=_at(r["updatedAt"]),
        started_at=_native(r.get("startedAt")),
        ended_at=_native(r.get("endedAt")),
        parent_run_id=r.get("parentRunId"),
        facets=stored_facets(r.get("content")),
        inputs=_pairs(inputs),
        outputs=_pairs(outputs),
    )


def _job_record(j: Any, inputs: Any, outputs: Any, latest: RunRecord | None) -> JobRecord:
    return JobRecord(
        namespace=j["namespace"],
        name=j["name"],
        created_at=_at(j["createdAt"]),
        updated_at=_at(j["updatedAt"]),
        job_type=j.get("jobType"),
        description=j.get("description"),
        inputs=_pairs(inputs),
        outputs=_pairs(outputs),
        latest_run=latest,
        facets=stored_facets(j.get("content")),
    )
