"""The lineage graph as the subject index sees it (``governance.subjects.search.LineageView``).

Datasets are named ``ns/name`` there, as in the catalog and the policy. Downstream reach is the
union of job-level lineage (a job read A and wrote B) and column-level lineage (a field of B
derives from a field of A), because a producer may send either. A dataset is a model when its
``datasetType`` says so or when it is written by a training job (see ``is_training_job``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from governance.subjects.search import Consumer, DerivedDataset, RunRef
from lineage.events import SEP, field_key
from lineage.queries import MODEL_DATASET_TYPES, is_training_job
from lineage.store import JobRecord, LineageStore, dataset_gid, split_gid

DEPTH = 20


def _name(gid: str) -> str:
    _, namespace, name = split_gid(gid)
    return f"{namespace}/{name}"


def _gid(dataset: str) -> str:
    namespace, _, name = dataset.partition("/")
    return dataset_gid(namespace, name)


def _owner(job: JobRecord) -> str | None:
    owners = (job.facets.get("ownership") or {}).get("owners") or []
    names = [str(o.get("name")) for o in owners if isinstance(o, dict) and o.get("name")]
    return ", ".join(names) or None


class StoreSubjectView:
    def __init__(self, store: LineageStore) -> None:
        self._store = store

    def _reach(self, dataset: str) -> dict[str, tuple[int, tuple[str, ...]]]:
        """Downstream datasets (gid → depth in jobs, the jobs on one shortest path)."""
        start = _gid(dataset)
        walk = self._store.walk(start, depth=2 * DEPTH, direction="downstream")
        parents: dict[str, list[str]] = {}
        for a, b in walk.edges:
            parents.setdefault(b, []).append(a)
        out: dict[str, tuple[int, tuple[str, ...]]] = {}
        for gid, distance in walk.nodes.items():
            if not gid.startswith("dataset") or gid == start:
                continue
            jobs = [p for p in parents.get(gid, []) if walk.nodes.get(p, 99) < distance]
            via = (_name(jobs[0]),) if jobs else ()
            out[gid] = (max(1, distance // 2), via)
        # column lineage may reach datasets no job-level edge names (dbt reads seeds that way)
        found = self._store.datasets([start]).get(start)
        namespace, _, name = dataset.partition("/")
        for f in found.fields if found else ():
            fields = self._store.field_walk(
                field_key(namespace, name, f.name), depth=DEPTH, direction="downstream"
            )
            for key, distance in fields.nodes.items():
                ns, ds, _ = key.split(SEP, 2)
                gid = dataset_gid(ns, ds)
                if gid != start and (gid not in out or distance < out[gid][0]):
                    out[gid] = (distance, out.get(gid, (0, ()))[1])
        return out

    def downstream(self, dataset: str) -> list[DerivedDataset]:
        reach = self._reach(dataset)
        records = self._store.datasets(list(reach))
        producers = self._producers(list(reach))
        out = []
        for gid, (depth, via) in sorted(reach.items()):
            record = records.get(gid)
            kind = (record.dataset_type if record else None) or None
            model = (kind or "").upper() in MODEL_DATASET_TYPES or any(
                is_training_job(j) for j in producers.get(gid, [])
            )
            out.append(DerivedDataset(_name(gid), depth, via, model, kind))
        return out

    def _producers(self, gids: list[str]) -> dict[str, list[JobRecord]]:
        """Per dataset, the jobs that wrote it."""
        out: dict[str, list[JobRecord]] = {}
        writers: dict[str, list[str]] = {}
        for gid in gids:
            walk = self._store.walk(gid, depth=1, direction="upstream")
            writers[gid] = [g for g in walk.nodes if g.startswith("job")]
        jobs = self._store.jobs(sorted({j for js in writers.values() for j in js}))
        for gid, names in writers.items():
            out[gid] = [jobs[j] for j in names if j in jobs]
        return out

    def edges(self, datasets: Iterable[str]) -> list[tuple[str, str]]:
        names = set(datasets)
        out: set[tuple[str, str]] = set()
        for dataset in names:
            for gid in self._reach(dataset):
                downstream = _name(gid)
                if downstream in names:
                    out.add((dataset, downstream))
        return sorted(out)

    def producing_runs(self, dataset: str, limit: int = 20) -> list[RunRef]:
        jobs = self._producers([_gid(dataset)]).get(_gid(dataset), [])
        runs: list[RunRef] = []
        for job in jobs:
            _, records = self._store.runs(job.namespace, job.name, limit, 0)
            runs += [
                RunRef(
                    f"{job.namespace}/{job.name}",
                    r.run_id,
                    r.state,
                    r.started_at,
                    r.ended_at,
                )
                for r in records
            ]
        epoch = datetime.min.replace(tzinfo=UTC)
        runs.sort(key=lambda r: r.ended_at or r.started_at or epoch, reverse=True)
        return runs[:limit]

    def consumers(self, dataset: str) -> list[Consumer]:
        walk = self._store.walk(_gid(dataset), depth=1, direction="downstream")
        jobs = self._store.jobs(sorted(g for g in walk.nodes if g.startswith("job")))
        return [
            Consumer(f"{j.namespace}/{j.name}", _owner(j), j.job_type)
            for _, j in sorted(jobs.items())
        ]

    def upstream(self, dataset: str) -> list[str]:
        walk = self._store.walk(_gid(dataset), depth=2 * DEPTH, direction="upstream")
        start = _gid(dataset)
        return sorted(_name(g) for g in walk.nodes if g.startswith("dataset") and g != start)
