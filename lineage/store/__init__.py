"""Where the lineage graph lives: one protocol, two implementations.

``Neo4jLineageStore`` is the production graph; ``SqlLineageStore`` is the embedded default on
the service's SQL database (recursive CTEs, as Marquez keeps lineage in PostgreSQL). Both take
the same normalized batches (``lineage.store.batch``) and answer the same primitive queries; the
contract suite in ``tests/contract`` runs against both. Query semantics that are not storage
(Marquez shapes, PII flow, impact) live in ``lineage.queries`` on top of these primitives.

Graph identity: every dataset and job has a ``gid`` (``dataset␟ns␟name``, ``job␟ns␟name``) and
every field a key (``ns␟dataset␟field``), with ␟ = U+001F, which never occurs in names.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from lineage.events import SEP, LineageEvent

Direction = Literal["upstream", "downstream", "both"]


def dataset_gid(namespace: str, name: str) -> str:
    return f"dataset{SEP}{namespace}{SEP}{name}"


def job_gid(namespace: str, name: str) -> str:
    return f"job{SEP}{namespace}{SEP}{name}"


def split_gid(gid: str) -> tuple[str, str, str]:
    kind, namespace, name = gid.split(SEP, 2)
    return kind, namespace, name


@dataclass(frozen=True)
class FieldRecord:
    name: str
    type: str | None = None
    description: str | None = None


def dataset_fields(names: Any, schema_text: Any) -> tuple[FieldRecord, ...]:
    """Field names of a dataset, typed by its latest schema."""
    try:
        schema = {item[0]: item for item in json.loads(schema_text or "[]")}
    except (ValueError, TypeError, IndexError):
        schema = {}
    out = []
    for name in sorted({n for n in names or [] if n}):
        item = schema.get(name)
        out.append(FieldRecord(name, item[1] if item else None, item[2] if item else None))
    return tuple(out)


def stored_facets(content: Any) -> dict[str, Any]:
    """The facets a store kept as JSON text; anything unreadable reads as none."""
    try:
        value = json.loads(content or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class ClassificationRecord:
    field_key: str
    pii_type: str
    source: str
    confidence: float
    at: datetime | None = None


@dataclass(frozen=True)
class DatasetRecord:
    namespace: str
    name: str
    created_at: datetime
    updated_at: datetime
    source_name: str | None = None
    description: str | None = None
    dataset_type: str | None = None
    fields: tuple[FieldRecord, ...] = ()
    facets: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    job_namespace: str
    job_name: str
    state: str
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    parent_run_id: str | None = None
    facets: dict[str, Any] = field(default_factory=dict)
    inputs: tuple[tuple[str, str], ...] = ()
    outputs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class JobRecord:
    namespace: str
    name: str
    created_at: datetime
    updated_at: datetime
    job_type: str | None = None
    description: str | None = None
    inputs: tuple[tuple[str, str], ...] = ()
    outputs: tuple[tuple[str, str], ...] = ()
    latest_run: RunRecord | None = None
    facets: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NamespaceRecord:
    name: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class FieldEdge:
    """``output`` field derives from ``input`` field (keys)."""

    output: str
    input: str
    type: str = ""
    subtype: str = ""
    description: str = ""
    masking: bool = False
    first_seen: datetime | None = None

    @property
    def carries_values(self) -> bool:
        return self.type != "INDIRECT" and not self.masking


@dataclass
class Walk:
    """Nodes reached (gid → distance) and the edges among them (origin gid, destination gid)."""

    nodes: dict[str, int] = field(default_factory=dict)
    edges: set[tuple[str, str]] = field(default_factory=set)
    # filled only by ``walk(..., records=True)``: the records of the datasets and jobs reached
    datasets: dict[str, DatasetRecord] = field(default_factory=dict)
    jobs: dict[str, JobRecord] = field(default_factory=dict)


@dataclass
class FieldWalk:
    nodes: dict[str, int] = field(default_factory=dict)
    edges: list[FieldEdge] = field(default_factory=list)


@dataclass(frozen=True)
class StoreStats:
    namespaces: int
    datasets: int
    jobs: int
    runs: int
    fields: int
    field_edges: int


class LineageStore(Protocol):
    """What both lineage stores do. Writes are idempotent and order-insensitive."""

    backend: str

    def setup(self) -> None:
        """Create what the store needs (constraints and indexes); safe to repeat."""

    def write(self, events: Sequence[LineageEvent]) -> None:
        """Apply events in one transaction; replaying any of them changes nothing."""

    def prepare(self, events: Sequence[LineageEvent]) -> Any:
        """The CPU part of ``write`` (normalizing), so it can overlap the previous write."""

    def write_prepared(self, prepared: Any) -> None:
        """The I/O part of ``write``: apply what ``prepare`` returned, in one transaction."""

    def classify(
        self, field_key: str, pii_type: str, *, source: str, confidence: float, at: datetime
    ) -> None:
        """Attach a classification to a field (created if unknown)."""

    def walk(
        self,
        start: str,
        *,
        depth: int,
        direction: Direction,
        as_of: datetime | None = None,
        records: bool = False,
    ) -> Walk:
        """Datasets and jobs within ``depth`` edges of ``start``; empty if it does not exist.

        With ``records``, also the records of what it reached (``datasets(…)``, ``jobs(…)``),
        which a store may fetch in the same round trip.
        """

    def field_walk(
        self, start: str, *, depth: int, direction: Direction, as_of: datetime | None = None
    ) -> FieldWalk:
        """Fields within ``depth`` column-lineage edges of the field ``start``."""

    def datasets(self, gids: Sequence[str]) -> dict[str, DatasetRecord]: ...

    def jobs(self, gids: Sequence[str]) -> dict[str, JobRecord]: ...

    def namespaces(self) -> list[NamespaceRecord]: ...

    def list_datasets(
        self, namespace: str, limit: int, offset: int
    ) -> tuple[int, list[DatasetRecord]]: ...

    def list_jobs(self, namespace: str, limit: int, offset: int) -> tuple[int, list[JobRecord]]: ...

    def runs(
        self, namespace: str, job: str, limit: int, offset: int
    ) -> tuple[int, list[RunRecord]]: ...

    def run(self, run_id: str) -> RunRecord | None: ...

    def classifications(self, field_keys: Sequence[str]) -> dict[str, list[ClassificationRecord]]:
        """Direct classifications (scan, steward, producer) of the given fields."""

    def field_jobs(self, field_keys: Sequence[str]) -> dict[str, set[str]]:
        """Per field, the gids of the jobs whose column lineage produced it."""

    def readers(self, dataset_gids: Sequence[str]) -> dict[str, set[str]]:
        """Per dataset, the gids of the jobs that read it (one hop downstream), in one query."""

    def stats(self) -> StoreStats: ...

    def close(self) -> None: ...
