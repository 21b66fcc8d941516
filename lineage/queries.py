"""Lineage answers for auditors and tools: Marquez's shapes, and ours beyond Marquez.

Marquez compatibility: node ids (``dataset:NS:NAME``, ``job:NS:NAME``,
``datasetField:NS:NAME:FIELD``) are split the way Marquez splits them (colons followed by ``//``
or digits belong to URIs), and responses have Marquez's shape: ``{"graph": [{"id", "type",
"data", "inEdges", "outEdges"}]}`` sorted by id, with Marquez's edge conventions.

Beyond Marquez: point-in-time graphs, PII flow (where a field's personal data travels, and where
a masking transformation stops it), impact (every dataset, job and ML model fed by a dataset or
field), and classifications that record the field they were inherited from.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from governance.errors import InvalidInput, NotFound
from lineage.events import SEP, field_key
from lineage.store import (
    ClassificationRecord,
    DatasetRecord,
    Direction,
    FieldEdge,
    JobRecord,
    LineageStore,
    RunRecord,
    dataset_gid,
    job_gid,
    split_gid,
)

_URI_SAFE_COLON = re.compile(r":(?!//|\d+)")
MODEL_DATASET_TYPES = frozenset({"MODEL", "ML_MODEL"})
TRAINING_JOB_TYPES = frozenset({"TRAINING", "MODEL_TRAINING", "ML_TRAINING"})
SQL_INTEGRATIONS = frozenset({"DBT", "SQL", "HIVE", "SNOWFLAKE", "BIGQUERY", "FLINK"})
"""Integrations whose ``jobType: MODEL`` means a SQL model (a table), not a trained one."""


def is_training_job(job: JobRecord) -> bool:
    """Does this job train an ML model? Its ``jobType`` says TRAINING (or a variant); or it says
    MODEL and the integration is not a SQL tool: dbt-ol calls every dbt model ``MODEL``."""
    kind = (job.job_type or "").upper()
    if kind in TRAINING_JOB_TYPES:
        return True
    if kind != "MODEL":
        return False
    integration = str((job.facets.get("jobType") or {}).get("integration") or "").upper()
    return integration not in SQL_INTEGRATIONS


MAX_DEPTH = 100


@dataclass(frozen=True)
class NodeId:
    kind: str  # dataset | job | datasetField
    namespace: str
    name: str
    field: str | None = None

    @property
    def gid(self) -> str:
        if self.kind == "job":
            return job_gid(self.namespace, self.name)
        return dataset_gid(self.namespace, self.name)

    @property
    def field_key(self) -> str:
        assert self.field is not None
        return field_key(self.namespace, self.name, self.field)

    def __str__(self) -> str:
        base = f"{self.kind}:{self.namespace}:{self.name}"
        return base if self.field is None else f"{base}:{self.field}"


def _split(value: str, parts: int) -> list[str]:
    """Marquez's NodeId.parts: plain split when it fits, else skip URI colons."""
    simple = re.split(r"[:#]", value)
    if len(simple) < parts:
        raise InvalidInput(f"node id {value!r} needs {parts} parts separated by ':'")
    if len(simple) == parts:
        return simple
    out: list[str] = []
    previous = 0
    for match in _URI_SAFE_COLON.finditer(value):
        if len(out) == parts - 1:
            break
        out.append(value[previous : match.start()])
        previous = match.end()
    if len(out) != parts - 1:  # too few URI-safe colons: the leftmost separators split it
        return re.split(r"[:#]", value, maxsplit=parts - 1)
    out.append(value[previous:])
    return out


def parse_node_id(value: str) -> NodeId:
    """Parse ``dataset:ns:name``, ``job:ns:name`` or ``datasetField:ns:name:field``."""
    if value.startswith("datasetField:"):
        _, ns, name, fld = _split(value, 4)
        return NodeId("datasetField", ns, name, fld)
    if value.startswith("dataset:"):
        _, ns, name = _split(value, 3)
        return NodeId("dataset", ns, name)
    if value.startswith("job:"):
        _, ns, name = _split(value, 3)
        return NodeId("job", ns, name)
    raise InvalidInput(f"node id {value!r} must start with dataset:, job: or datasetField:")


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _marquez_id(gid: str) -> str:
    kind, ns, name = split_gid(gid)
    return f"{kind}:{ns}:{name}"


def _field_id(key: str) -> str:
    ns, ds, name = key.split(SEP, 2)
    return f"datasetField:{ns}:{ds}:{name}"


def dataset_json(d: DatasetRecord) -> dict[str, Any]:
    return {
        "id": {"namespace": d.namespace, "name": d.name},
        "type": "DB_TABLE",
        "name": d.name,
        "physicalName": d.name,
        "createdAt": iso(d.created_at),
        "updatedAt": iso(d.updated_at),
        "namespace": d.namespace,
        "sourceName": d.source_name or "default",
        "fields": [
            {"name": f.name, "type": f.type, "tags": [], "description": f.description}
            for f in d.fields
        ],
        "tags": [],
        "lastModifiedAt": None,
        "lastLifecycleState": None,
        "description": d.description,
        "datasetType": d.dataset_type,
        "facets": d.facets,
        "deleted": False,
    }


def run_json(r: RunRecord) -> dict[str, Any]:
    duration = None
    if r.started_at and r.ended_at:
        duration = int((r.ended_at - r.started_at).total_seconds() * 1000)
    return {
        "id": r.run_id,
        "createdAt": iso(r.created_at),
        "updatedAt": iso(r.updated_at),
        "nominalStartTime": None,
        "nominalEndTime": None,
        "state": r.state,
        "startedAt": iso(r.started_at),
        "endedAt": iso(r.ended_at),
        "durationMs": duration,
        "args": {},
        "jobVersion": None,
        "inputDatasetVersions": [
            {"datasetVersionId": {"namespace": ns, "name": n}} for ns, n in r.inputs
        ],
        "outputDatasetVersions": [
            {"datasetVersionId": {"namespace": ns, "name": n}} for ns, n in r.outputs
        ],
        "parentRunId": r.parent_run_id,
        "facets": r.facets,
    }


def job_json(j: JobRecord) -> dict[str, Any]:
    return {
        "id": {"namespace": j.namespace, "name": j.name},
        "type": "BATCH",
        "name": j.name,
        "simpleName": j.name.rsplit(".", 1)[-1],
        "parentJobName": None,
        "createdAt": iso(j.created_at),
        "updatedAt": iso(j.updated_at),
        "namespace": j.namespace,
        "inputs": [{"namespace": ns, "name": n} for ns, n in j.inputs],
        "outputs": [{"namespace": ns, "name": n} for ns, n in j.outputs],
        "location": None,
        "description": j.description,
        "jobType": j.job_type,
        "latestRun": run_json(j.latest_run) if j.latest_run else None,
        "facets": j.facets,
    }


def _check_depth(depth: int) -> int:
    if depth < 0 or depth > MAX_DEPTH:
        raise InvalidInput(f"depth must be between 0 and {MAX_DEPTH}")
    return depth


class LineageQueries:
    def __init__(self, store: LineageStore) -> None:
        self.store = store

    # ---- Marquez ----------------------------------------------------------------------------

    def lineage(
        self,
        node_id: str,
        depth: int = 20,
        *,
        direction: Direction = "both",
        as_of: datetime | None = None,
    ) -> dict[str, Any]:
        """Marquez's ``GET /api/v1/lineage`` (plus direction and point in time)."""
        node = parse_node_id(node_id)
        if node.kind == "datasetField":
            raise InvalidInput("use /api/v1/column-lineage for datasetField node ids")
        walk = self.store.walk(
            node.gid, depth=_check_depth(depth), direction=direction, as_of=as_of, records=True
        )
        if not walk.nodes:
            raise NotFound(f"no {node.kind} {node.namespace}:{node.name} in the lineage graph")
        datasets, jobs = walk.datasets, walk.jobs
        in_edges: dict[str, list[dict[str, str]]] = {}
        out_edges: dict[str, list[dict[str, str]]] = {}
        for a, b in walk.edges:
            edge = {"origin": _marquez_id(a), "destination": _marquez_id(b)}
            out_edges.setdefault(a, []).append(edge)
            in_edges.setdefault(b, []).append(edge)
        graph = []
        for gid in walk.nodes:
            kind = gid.split(SEP, 1)[0]
            data: dict[str, Any] | None
            if kind == "dataset":
                data = dataset_json(datasets[gid]) if gid in datasets else None
            else:
                data = job_json(jobs[gid]) if gid in jobs else None
            graph.append(
                {
                    "id": _marquez_id(gid),
                    "type": "DATASET" if kind == "dataset" else "JOB",
                    "data": data,
                    "inEdges": sorted(
                        in_edges.get(gid, []), key=lambda e: (e["origin"], e["destination"])
                    ),
                    "outEdges": sorted(
                        out_edges.get(gid, []), key=lambda e: (e["origin"], e["destination"])
                    ),
                }
            )
        graph.sort(key=lambda n: str(n["id"]))
        return {"graph": graph}

    def column_lineage(
        self,
        node_id: str,
        depth: int = 20,
        *,
        with_downstream: bool = False,
        as_of: datetime | None = None,
    ) -> dict[str, Any]:
        """Marquez's ``GET /api/v1/column-lineage``: upstream by default, downstream on request."""
        node = parse_node_id(node_id)
        direction: Direction = "both" if with_downstream else "upstream"
        if node.kind == "datasetField":
            starts = [node.field_key]
        elif node.kind == "job":  # as Marquez: the fields of the job's outputs
            jobs = self.store.jobs([node.gid])
            if not jobs:
                raise NotFound(f"no job {node.namespace}:{node.name} in the lineage graph")
            outputs = self.store.datasets([dataset_gid(ns, n) for ns, n in jobs[node.gid].outputs])
            starts = [
                field_key(d.namespace, d.name, f.name) for d in outputs.values() for f in d.fields
            ]
        else:
            found = self.store.datasets([node.gid])
            if not found:
                raise NotFound(f"no dataset {node.namespace}:{node.name} in the lineage graph")
            starts = [field_key(node.namespace, node.name, f.name) for f in found[node.gid].fields]
        nodes: dict[str, int] = {}
        edges: dict[tuple[str, str, str, str], FieldEdge] = {}
        for start in starts:
            walk = self.store.field_walk(
                start, depth=_check_depth(depth), direction=direction, as_of=as_of
            )
            for key, dist in walk.nodes.items():
                nodes[key] = min(dist, nodes.get(key, dist)) if dist >= 0 else nodes.get(key, dist)
            for e in walk.edges:
                edges[(e.output, e.input, e.type, e.subtype)] = e
        if not nodes:
            raise NotFound(f"no field {node} in the lineage graph")
        types = self._field_types(nodes)
        inputs_of: dict[str, list[FieldEdge]] = {}
        outputs_of: dict[str, list[FieldEdge]] = {}
        for e in edges.values():
            inputs_of.setdefault(e.output, []).append(e)
            outputs_of.setdefault(e.input, []).append(e)
        graph: list[dict[str, Any]] = []
        for key in nodes:
            ns, ds, name = key.split(SEP, 2)
            own = sorted(inputs_of.get(key, []), key=lambda e: (e.input, e.type, e.subtype))
            first = own[0] if own else None
            me = _field_id(key)
            graph.append(
                {
                    "id": me,
                    "type": "DATASET_FIELD",
                    "data": {
                        "namespace": ns,
                        "dataset": ds,
                        "datasetVersion": None,
                        "field": name,
                        "fieldType": types.get(key),
                        "transformationDescription": first.description if first else None,
                        "transformationType": first.type or None if first else None,
                        "inputFields": [
                            {
                                "namespace": e.input.split(SEP, 2)[0],
                                "dataset": e.input.split(SEP, 2)[1],
                                "datasetVersion": None,
                                "field": e.input.split(SEP, 2)[2],
                                "transformationDescription": e.description or None,
                                "transformationType": e.type or None,
                                "transformationSubtype": e.subtype or None,
                                "masking": e.masking,
                            }
                            for e in own
                        ],
                    },
                    # Marquez's convention: both lists have this node as origin
                    "inEdges": sorted(
                        ({"origin": me, "destination": _field_id(e.input)} for e in own),
                        key=lambda x: x["destination"],
                    ),
                    "outEdges": sorted(
                        (
                            {"origin": me, "destination": _field_id(e.output)}
                            for e in outputs_of.get(key, [])
                        ),
                        key=lambda x: x["destination"],
                    ),
                }
            )
        graph.sort(key=lambda n: str(n["id"]))
        return {"graph": graph}

    def _field_types(self, keys: Iterable[str]) -> dict[str, str | None]:
        by_dataset: dict[str, list[str]] = {}
        for key in keys:
            ns, ds, _ = key.split(SEP, 2)
            by_dataset.setdefault(dataset_gid(ns, ds), []).append(key)
        out: dict[str, str | None] = {}
        for record in self.store.datasets(list(by_dataset)).values():
            for f in record.fields:
                out[field_key(record.namespace, record.name, f.name)] = f.type
        return out

    def namespaces(self) -> dict[str, Any]:
        return {
            "namespaces": [
                {
                    "name": n.name,
                    "createdAt": iso(n.created_at),
                    "updatedAt": iso(n.updated_at),
                    "ownerName": "anonymous",
                    "description": None,
                    "isHidden": False,
                }
                for n in self.store.namespaces()
            ]
        }

    def datasets(self, namespace: str, limit: int, offset: int) -> dict[str, Any]:
        total, rows = self.store.list_datasets(namespace, limit, offset)
        return {"totalCount": total, "datasets": [dataset_json(d) for d in rows]}

    def dataset(self, namespace: str, name: str) -> dict[str, Any]:
        found = self.store.datasets([dataset_gid(namespace, name)])
        if not found:
            raise NotFound(f"no dataset {name} in namespace {namespace}")
        return dataset_json(next(iter(found.values())))

    def jobs(self, namespace: str, limit: int, offset: int) -> dict[str, Any]:
        total, rows = self.store.list_jobs(namespace, limit, offset)
        return {"totalCount": total, "jobs": [job_json(j) for j in rows]}

    def job(self, namespace: str, name: str) -> dict[str, Any]:
        found = self.store.jobs([job_gid(namespace, name)])
        if not found:
            raise NotFound(f"no job {name} in namespace {namespace}")
        return job_json(next(iter(found.values())))

    def runs(self, namespace: str, job: str, limit: int, offset: int) -> dict[str, Any]:
        if not self.store.jobs([job_gid(namespace, job)]):
            raise NotFound(f"no job {job} in namespace {namespace}")
        total, rows = self.store.runs(namespace, job, limit, offset)
        return {"totalCount": total, "runs": [run_json(r) for r in rows]}

    def run(self, run_id: str) -> dict[str, Any]:
        found = self.store.run(run_id)
        if found is None:
            raise NotFound(f"no run {run_id}")
        return run_json(found)

    # ---- PII --------------------------------------------------------------------------------

    def _field_node(self, node_id: str) -> NodeId:
        node = parse_node_id(node_id)
        if node.kind != "datasetField":
            raise InvalidInput("this query takes a datasetField:NS:DATASET:FIELD node id")
        return node

    def classifications_of(self, node_id: str, depth: int = 20) -> dict[str, Any]:
        """Direct classifications of a field, and those inherited along column lineage."""
        node = self._field_node(node_id)
        walk = self.store.field_walk(
            node.field_key, depth=_check_depth(depth), direction="upstream"
        )
        if not walk.nodes:
            raise NotFound(f"no field {node_id} in the lineage graph")
        direct = self.store.classifications(list(walk.nodes))
        paths = _carrying_paths(node.field_key, walk.edges, upstream=True)
        items = [_classification_json(c, None) for c in direct.get(node.field_key, [])]
        for origin, path in sorted(paths.items()):
            if origin == node.field_key:
                continue
            for c in direct.get(origin, []):
                items.append(_classification_json(c, [_field_id(k) for k in path]))
        return {"field": str(node), "classifications": items}

    def pii_flow(self, node_id: str, depth: int = 20) -> dict[str, Any]:
        """Every downstream field a field's personal data reaches, with the types it carries."""
        node = self._field_node(node_id)
        source = self.classifications_of(node_id, depth)
        carried = sorted({c["piiType"] for c in source["classifications"]})
        walk = self.store.field_walk(
            node.field_key, depth=_check_depth(depth), direction="downstream"
        )
        paths = _carrying_paths(node.field_key, walk.edges, upstream=False)
        own = self.store.classifications([k for k in paths if k != node.field_key])
        reaches = []
        for key, path in sorted(paths.items(), key=lambda kv: (len(kv[1]), kv[0])):
            if key == node.field_key:
                continue
            ns, ds, _ = key.split(SEP, 2)
            here = sorted({c.pii_type for c in own.get(key, [])})
            reaches.append(
                {
                    "field": _field_id(key),
                    "dataset": {"namespace": ns, "name": ds},
                    "depth": len(path) - 1,
                    "piiTypes": sorted(set(carried) | set(here)),
                    "carriedFrom": str(node),
                    "path": [_field_id(k) for k in path],
                }
            )
        stopped = []
        for e in walk.edges:
            if e.input in paths and not e.carries_values:
                reason = (
                    "masking transformation" if e.masking else "indirect (the value is not copied)"
                )
                stopped.append(
                    {
                        "field": _field_id(e.output),
                        "from": _field_id(e.input),
                        "reason": reason,
                        "transformation": {
                            "type": e.type or None,
                            "subtype": e.subtype or None,
                            "description": e.description or None,
                        },
                    }
                )
        stopped.sort(key=lambda s: (s["field"], s["from"]))
        return {
            "field": str(node),
            "piiTypes": carried,
            "classifications": source["classifications"],
            "reaches": reaches,
            "stopped": stopped,
        }

    def impact(self, node_id: str, depth: int = 20) -> dict[str, Any]:
        """Every dataset, job and ML model fed, directly or transitively, by a dataset or field."""
        node = parse_node_id(node_id)
        if node.kind == "job":
            raise InvalidInput("impact starts from a dataset or a datasetField")
        if node.kind == "datasetField":
            walk = self.store.field_walk(
                node.field_key, depth=_check_depth(depth), direction="downstream"
            )
            if not walk.nodes:
                raise NotFound(f"no field {node_id} in the lineage graph")
            fields = [k for k in walk.nodes if k != node.field_key]
            dataset_gids = sorted({dataset_gid(*k.split(SEP, 2)[:2]) for k in fields})
            producers = self.store.field_jobs(fields)
            job_gids = sorted({j for js in producers.values() for j in js})
            extra = {"fields": sorted(_field_id(k) for k in fields)}
        else:
            walk_d = self.store.walk(node.gid, depth=_check_depth(depth), direction="downstream")
            if not walk_d.nodes:
                raise NotFound(f"no dataset {node.namespace}:{node.name} in the lineage graph")
            dataset_gids = sorted(
                g for g in walk_d.nodes if g.startswith("dataset") and g != node.gid
            )
            job_gids = sorted(g for g in walk_d.nodes if g.startswith("job"))
            extra = {}
        datasets = self.store.datasets(dataset_gids)
        jobs = self.store.jobs(job_gids)
        models = [
            {"kind": "dataset", "id": _marquez_id(g), "type": d.dataset_type}
            for g, d in sorted(datasets.items())
            if (d.dataset_type or "").upper() in MODEL_DATASET_TYPES
        ] + [
            {"kind": "job", "id": _marquez_id(g), "type": j.job_type}
            for g, j in sorted(jobs.items())
            if is_training_job(j)
        ]
        return {
            "node": str(node),
            "datasets": [_marquez_id(g) for g in dataset_gids],
            "jobs": [_marquez_id(g) for g in job_gids],
            "models": models,
            **extra,
        }


def _classification_json(c: ClassificationRecord, path: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "piiType": c.pii_type,
        "source": c.source if path is None else "lineage",
        "confidence": c.confidence,
        "at": iso(c.at),
    }
    if path is not None:
        out["origin"] = path[-1]
        out["originSource"] = c.source
        out["path"] = path
    return out


def _carrying_paths(start: str, edges: list[FieldEdge], *, upstream: bool) -> dict[str, list[str]]:
    """Shortest value-carrying paths from ``start`` (BFS over non-masking DIRECT edges)."""
    neighbours: dict[str, list[str]] = {}
    for e in edges:
        if not e.carries_values:
            continue
        a, b = (e.output, e.input) if upstream else (e.input, e.output)
        neighbours.setdefault(a, []).append(b)
    paths = {start: [start]}
    queue = deque([start])
    while queue:
        current = queue.popleft()
        for nxt in sorted(neighbours.get(current, [])):
            if nxt not in paths:
                paths[nxt] = [*paths[current], nxt]
                queue.append(nxt)
    return paths
