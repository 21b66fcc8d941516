"""Events to graph rows: one normalization shared by both stores.

A batch of events becomes deduplicated rows (namespaces, datasets, fields, jobs, runs, edges,
classifications). Every merge rule is a min, a max, a union or "the attribute from the latest
event wins", so applying the same rows twice, or events in any order, ends in the same graph.
Run state: a terminal state (COMPLETED, FAILED, ABORTED) outranks RUNNING, so a START that
arrives after its COMPLETE does not reopen the run; between equals the later event wins.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lineage.events import SEP, STATE_RANK, DatasetInfo, LineageEvent, field_key
from lineage.store import dataset_gid, job_gid


def facets_json(facets: Mapping[str, Any]) -> str:
    return json.dumps(facets, sort_keys=True, separators=(",", ":"), default=str)


def newer(at: datetime, content: str, attr_time: datetime | None, current: str) -> bool:
    """Does an event's attribute set replace the current one? The maximal (time, content) wins,
    so the result does not depend on the order events arrive in."""
    return attr_time is None or (at, content) > (attr_time, current)


class Facets:
    """Facets whose JSON text is made only when needed (a tie, or writing the winner)."""

    __slots__ = ("_text", "obj")

    def __init__(self, obj: Mapping[str, Any]) -> None:
        self.obj = obj
        self._text: str | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = facets_json(self.obj)
        return self._text


_NO_FACETS = Facets({})


def newer_facets(at: datetime, new: Facets, attr_time: datetime | None, current: Facets) -> bool:
    """``newer`` for facets, comparing the JSON only when the times are equal."""
    if attr_time is None:
        return True
    if at != attr_time:
        return at > attr_time
    return new.text > current.text


@dataclass
class Span:
    first: datetime
    last: datetime

    def add(self, at: datetime) -> None:
        self.first = min(self.first, at)
        self.last = max(self.last, at)


@dataclass
class DatasetRow:
    gid: str
    namespace: str
    name: str
    span: Span
    attr_time: datetime | None  # None: no event with facets yet
    source_name: str | None
    description: str | None
    dataset_type: str | None
    box: Facets = _NO_FACETS
    schema_time: datetime | None = None  # None: no schema facet seen yet
    schema_box: Facets = _NO_FACETS
    field_names: set[str] = field(default_factory=set)  # fields already in this batch

    @property
    def facets(self) -> str:
        return self.box.text

    @property
    def schema(self) -> str:
        """The latest schema as JSON: [[name, type, description], ...]."""
        return self.schema_box.text if self.schema_time is not None else "[]"


@dataclass
class FieldRow:
    """A field's identity; its type and description come from its dataset's latest schema."""

    key: str
    dataset_gid: str
    name: str


@dataclass
class JobRow:
    gid: str
    namespace: str
    name: str
    span: Span
    attr_time: datetime | None
    job_type: str | None
    description: str | None
    box: Facets = _NO_FACETS

    @property
    def facets(self) -> str:
        return self.box.text


@dataclass
class RunRow:
    run_id: str
    job_gid: str
    span: Span
    state: str
    state_rank: int
    state_time: datetime
    started_at: datetime | None
    ended_at: datetime | None
    parent_run_id: str | None
    attr_time: datetime | None
    box: Facets = _NO_FACETS

    def merge_state(self, state: str, at: datetime) -> None:
        rank = STATE_RANK[state]
        if (rank, at, state) > (self.state_rank, self.state_time, self.state):
            self.state, self.state_rank, self.state_time = state, rank, at

    @property
    def facets(self) -> str:
        return self.box.text


@dataclass
class FieldEdgeRow:
    output: str
    input: str
    type: str
    subtype: str
    description: str
    masking: bool
    span: Span
    jobs: set[str] = field(default_factory=set)


@dataclass
class GraphBatch:
    namespaces: dict[str, Span] = field(default_factory=dict)
    datasets: dict[str, DatasetRow] = field(default_factory=dict)
    fields: dict[str, FieldRow] = field(default_factory=dict)
    jobs: dict[str, JobRow] = field(default_factory=dict)
    runs: dict[str, RunRow] = field(default_factory=dict)
    run_io: dict[tuple[str, str, str], datetime] = field(default_factory=dict)
    edges: dict[tuple[str, str], Span] = field(default_factory=dict)
    field_edges: dict[tuple[str, str, str, str], FieldEdgeRow] = field(default_factory=dict)
    field_producers: dict[tuple[str, str], Span] = field(default_factory=dict)
    classifications: dict[tuple[str, str, str], tuple[float, datetime]] = field(
        default_factory=dict
    )

    # ---- building ---------------------------------------------------------------------------

    def _namespace(self, name: str, at: datetime) -> None:
        span = self.namespaces.get(name)
        if span is None:
            self.namespaces[name] = Span(at, at)
        else:
            span.add(at)

    def _dataset(self, ds: DatasetInfo, at: datetime) -> str:
        gid = dataset_gid(ds.namespace, ds.name)
        self._namespace(ds.namespace, at)
        row = self.datasets.get(gid)
        if row is None:
            row = DatasetRow(gid, ds.namespace, ds.name, Span(at, at), None, None, None, None)
            self.datasets[gid] = row
        else:
            row.span.add(at)
        stored = ds.stored_facets
        box = Facets(stored)
        if stored and newer_facets(at, box, row.attr_time, row.box):
            row.attr_time = at
            row.source_name = ds.source_name
            row.description = ds.description
            row.dataset_type = ds.dataset_type
            row.box = box
        if ds.schema is not None:
            schema = Facets([[f.name, f.type, f.description] for f in ds.schema])  # type: ignore[arg-type]
            if newer_facets(at, schema, row.schema_time, row.schema_box):
                row.schema_time = at
                row.schema_box = schema
        seen = row.field_names
        for f in ds.fields:
            if f.name not in seen:
                self._field(ds.namespace, ds.name, gid, f.name)
        for c in ds.classifications:
            key = self._field(ds.namespace, ds.name, gid, c.field)
            self.classify(key, c.pii_type, c.source, c.confidence, at)
        return gid

    def _touch_dataset(self, namespace: str, name: str, at: datetime) -> str:
        """A dataset named by column lineage only: exists, seen at ``at``."""
        gid = dataset_gid(namespace, name)
        row = self.datasets.get(gid)
        if row is None:
            return self._dataset(DatasetInfo(namespace, name), at)
        row.span.add(at)
        ns_span = self.namespaces[namespace]
        ns_span.add(at)
        return gid

    def _field(self, namespace: str, dataset: str, gid: str, name: str) -> str:
        key = field_key(namespace, dataset, name)
        if key not in self.fields:
            self.fields[key] = FieldRow(key, gid, name)
            row = self.datasets.get(gid)
            if row is not None:
                row.field_names.add(name)
        return key

    @classmethod
    def for_classification(
        cls, key: str, pii_type: str, source: str, confidence: float, at: datetime
    ) -> GraphBatch:
        """A batch that classifies one field, creating its dataset and field if unknown."""
        namespace, dataset, name = key.split(SEP, 2)
        batch = cls()
        gid = batch._dataset(DatasetInfo(namespace, dataset), at)
        batch._field(namespace, dataset, gid, name)
        batch.classify(key, pii_type, source, confidence, at)
        return batch

    def classify(
        self, key: str, pii_type: str, source: str, confidence: float, at: datetime
    ) -> None:
        current = self.classifications.get((key, pii_type, source))
        if current is None or (at, confidence) > (current[1], current[0]):
            self.classifications[(key, pii_type, source)] = (confidence, at)

    def _edge(self, src: str, dst: str, at: datetime) -> None:
        span = self.edges.get((src, dst))
        if span is None:
            self.edges[(src, dst)] = Span(at, at)
        else:
            span.add(at)

    def _column_lineage(self, ds: DatasetInfo, gid: str, job: str | None, at: datetime) -> None:
        for item in ds.lineage:
            out_key = self._field(ds.namespace, ds.name, gid, item.output)
            in_gid = self._touch_dataset(item.namespace, item.dataset, at)
            in_key = self._field(item.namespace, item.dataset, in_gid, item.field)
            ident = (out_key, in_key, item.type, item.subtype)
            row = self.field_edges.get(ident)
            if row is None:
                self.field_edges[ident] = FieldEdgeRow(
                    out_key,
                    in_key,
                    item.type,
                    item.subtype,
                    item.description,
                    item.masking,
                    Span(at, at),
                )
            else:
                row.span.add(at)
                row.masking = row.masking or item.masking
                row.description = max(row.description, item.description)
            if job is not None:
                self.field_edges[ident].jobs.add(job)
                span = self.field_producers.get((out_key, job))
                if span is None:
                    self.field_producers[(out_key, job)] = Span(at, at)
                else:
                    span.add(at)

    def add(self, event: LineageEvent) -> None:
        at = event.event_time
        if event.kind == "DatasetEvent":
            for ds in event.datasets:
                gid = self._dataset(ds, at)
                self._column_lineage(ds, gid, None, at)
            return
        assert event.job_namespace is not None and event.job_name is not None
        jgid = job_gid(event.job_namespace, event.job_name)
        self._namespace(event.job_namespace, at)
        job = self.jobs.get(jgid)
        if job is None:
            job = JobRow(jgid, event.job_namespace, event.job_name, Span(at, at), None, None, None)
            self.jobs[jgid] = job
        else:
            job.span.add(at)
        box = Facets(event.job_facets)
        if event.job_facets and newer_facets(at, box, job.attr_time, job.box):
            job.attr_time = at
            job.job_type = event.job_type
            job.description = event.job_description
            job.box = box
        for ds in event.inputs:
            gid = self._dataset(ds, at)
            self._edge(gid, jgid, at)
            if event.run_id:
                self.run_io.setdefault((event.run_id, gid, "in"), at)
                self.run_io[(event.run_id, gid, "in")] = min(
                    self.run_io[(event.run_id, gid, "in")], at
                )
        for ds in event.outputs:
            gid = self._dataset(ds, at)
            self._edge(jgid, gid, at)
            self._column_lineage(ds, gid, jgid, at)
            if event.run_id:
                self.run_io.setdefault((event.run_id, gid, "out"), at)
                self.run_io[(event.run_id, gid, "out")] = min(
                    self.run_io[(event.run_id, gid, "out")], at
                )
        if event.kind == "RunEvent" and event.run_id:
            self._run(event, jgid, at)

    def _run(self, event: LineageEvent, jgid: str, at: datetime) -> None:
        assert event.run_id is not None
        run = self.runs.get(event.run_id)
        if run is None:
            run = RunRow(event.run_id, jgid, Span(at, at), "NEW", 0, at, None, None, None, None)
            self.runs[event.run_id] = run
        else:
            run.span.add(at)
            # a runId belongs to one job; if producers disagree, the smallest job id wins
            run.job_gid = min(run.job_gid, jgid)
        box = Facets(event.run_facets)
        if event.run_facets and newer_facets(at, box, run.attr_time, run.box):
            run.attr_time = at
            run.box = box
        if event.parent_run_id and (
            run.parent_run_id is None or event.parent_run_id < run.parent_run_id
        ):
            run.parent_run_id = event.parent_run_id
        state = event.state
        if state is None:
            return
        run.merge_state(state, at)
        if event.event_type in ("START", "RUNNING"):
            run.started_at = at if run.started_at is None else min(run.started_at, at)
        if state in ("COMPLETED", "FAILED", "ABORTED"):
            run.ended_at = at if run.ended_at is None else max(run.ended_at, at)


def build_batch(events: Iterable[LineageEvent]) -> GraphBatch:
    batch = GraphBatch()
    for event in events:
        batch.add(event)
    return batch
