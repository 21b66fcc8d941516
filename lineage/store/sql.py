"""The embedded lineage store: the service's own SQL database, recursive CTEs for traversal.

The default when no Neo4j is configured, on SQLite or PostgreSQL. Writes are ``INSERT … ON
CONFLICT DO UPDATE`` with the same min/max/latest-wins rules as the Neo4j store, in one
transaction per batch; traversals are ``WITH RECURSIVE`` walks over the edge tables, bounded by
depth and (for point-in-time queries) by when an edge was first seen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, String, Table, and_, case, func, literal, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from governance.db import Database
from governance.errors import Unavailable
from lineage.events import SEP, LineageEvent
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
from lineage.store.sql_tables import (
    LineageClassificationRow,
    LineageEdgeRow,
    LineageFieldEdgeRow,
    LineageFieldProducerRow,
    LineageFieldRow,
    LineageNamespaceRow,
    LineageNodeRow,
    LineageRunIoRow,
    LineageRunRow,
)

NS: Table = LineageNamespaceRow.__table__  # type: ignore[attr-defined]
NODE: Table = LineageNodeRow.__table__  # type: ignore[attr-defined]
EDGE: Table = LineageEdgeRow.__table__  # type: ignore[attr-defined]
FIELD: Table = LineageFieldRow.__table__  # type: ignore[attr-defined]
FEDGE: Table = LineageFieldEdgeRow.__table__  # type: ignore[attr-defined]
FPROD: Table = LineageFieldProducerRow.__table__  # type: ignore[attr-defined]
RUN: Table = LineageRunRow.__table__  # type: ignore[attr-defined]
RUNIO: Table = LineageRunIoRow.__table__  # type: ignore[attr-defined]
CLASS: Table = LineageClassificationRow.__table__  # type: ignore[attr-defined]
CHUNK = 5000


def _at(value: Any) -> datetime:
    """A timestamp that must be there."""
    out = _utc(value)
    assert out is not None
    return out


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _min(new: Any, old: Any) -> Any:
    return case((new < old, new), else_=old)


def _max(new: Any, old: Any) -> Any:
    return case((new > old, new), else_=old)


def _chunks(items: Sequence[str]) -> Iterable[list[str]]:
    for i in range(0, len(items), CHUNK):
        yield list(items[i : i + CHUNK])


class SqlLineageStore:
    """``LineageStore`` on the service's SQL database."""

    backend = "sql"

    def __init__(self, db: Database) -> None:
        self._db = db

    def _insert(self, table: Table) -> Any:
        return (pg_insert if self._db.dialect == "postgresql" else sqlite_insert)(table)

    def _upsert(
        self,
        session: Session,
        table: Table,
        rows: list[dict[str, Any]],
        keys: list[str],
        updates: Callable[[Any], dict[str, Any]],
    ) -> None:
        if not rows:
            return
        stmt = self._insert(table)
        stmt = stmt.on_conflict_do_update(index_elements=keys, set_=updates(stmt.excluded))
        session.execute(stmt, rows)

    def setup(self) -> None:
        """The tables come from the Alembic migrations (``governance db upgrade``)."""

    def close(self) -> None:
        """The database belongs to the service."""

    # ---- writes ---------------------------------------------------------------------------------

    def write(self, events: Sequence[LineageEvent]) -> None:
        self.write_batch(build_batch(events))

    def prepare(self, events: Sequence[LineageEvent]) -> GraphBatch:
        return build_batch(events)

    def write_prepared(self, prepared: Any) -> None:
        assert isinstance(prepared, GraphBatch)
        self.write_batch(prepared)

    def write_batch(self, batch: GraphBatch) -> None:
        try:
            with self._db.write_session() as session:
                self.write_in(session, batch)
                session.commit()
        except OperationalError as exc:
            raise Unavailable(f"the lineage store is unavailable: {type(exc).__name__}") from exc

    def write_in(self, session: Session, batch: GraphBatch) -> None:
        """Apply a batch inside the caller's transaction."""

        def newer(x: Any, table: Table) -> Any:
            return and_(
                x.attr_time.is_not(None),
                or_(
                    table.c.attr_time.is_(None),
                    x.attr_time > table.c.attr_time,
                    and_(x.attr_time == table.c.attr_time, x.content > table.c.content),
                ),
            )

        def pick(x: Any, table: Table, column: str) -> Any:
            return case((newer(x, table), getattr(x, column)), else_=table.c[column])

        def newer_schema(x: Any) -> Any:
            return and_(
                x.schema_time.is_not(None),
                or_(
                    NODE.c.schema_time.is_(None),
                    x.schema_time > NODE.c.schema_time,
                    and_(
                        x.schema_time == NODE.c.schema_time, x.schema_fields > NODE.c.schema_fields
                    ),
                ),
            )

        self._upsert(
            session,
            NS,
            [
                {"name": n, "created_at": s.first, "updated_at": s.last}
                for n, s in batch.namespaces.items()
            ],
            ["name"],
            lambda x: {
                "created_at": _min(x.created_at, NS.c.created_at),
                "updated_at": _max(x.updated_at, NS.c.updated_at),
            },
        )
        nodes = [
            {
                "gid": d.gid,
                "kind": "dataset",
                "namespace": d.namespace,
                "name": d.name,
                "created_at": d.span.first,
                "updated_at": d.span.last,
                "attr_time": d.attr_time,
                "source_name": d.source_name,
                "description": d.description,
                "node_type": d.dataset_type,
                "content": d.facets if d.attr_time is not None else "{}",
                "schema_time": d.schema_time,
                "schema_fields": d.schema,
            }
            for d in batch.datasets.values()
        ] + [
            {
                "gid": j.gid,
                "kind": "job",
                "namespace": j.namespace,
                "name": j.name,
                "created_at": j.span.first,
                "updated_at": j.span.last,
                "attr_time": j.attr_time,
                "source_name": None,
                "description": j.description,
                "node_type": j.job_type,
                "content": j.facets if j.attr_time is not None else "{}",
                "schema_time": None,
                "schema_fields": "[]",
            }
            for j in batch.jobs.values()
        ]
        self._upsert(
            session,
            NODE,
            nodes,
            ["gid"],
            lambda x: {
                "created_at": _min(x.created_at, NODE.c.created_at),
                "updated_at": _max(x.updated_at, NODE.c.updated_at),
                "source_name": pick(x, NODE, "source_name"),
                "description": pick(x, NODE, "description"),
                "node_type": pick(x, NODE, "node_type"),
                "content": pick(x, NODE, "content"),
                "attr_time": pick(x, NODE, "attr_time"),
                "schema_fields": case(
                    (newer_schema(x), x.schema_fields), else_=NODE.c.schema_fields
                ),
                "schema_time": case((newer_schema(x), x.schema_time), else_=NODE.c.schema_time),
            },
        )
        if batch.fields:
            stmt = self._insert(FIELD).on_conflict_do_nothing(index_elements=["key"])
            session.execute(
                stmt,
                [
                    {"key": f.key, "dataset_gid": f.dataset_gid, "name": f.name}
                    for f in batch.fields.values()
                ],
            )
        self._upsert(
            session,
            EDGE,
            [
                {"src": s, "dst": d, "first_seen": sp.first, "last_seen": sp.last}
                for (s, d), sp in batch.edges.items()
            ],
            ["src", "dst"],
            lambda x: {
                "first_seen": _min(x.first_seen, EDGE.c.first_seen),
                "last_seen": _max(x.last_seen, EDGE.c.last_seen),
            },
        )
        self._write_runs(session, batch)
        self._upsert(
            session,
            FEDGE,
            [
                {
                    "output": e.output,
                    "input": e.input,
                    "type": e.type,
                    "subtype": e.subtype,
                    "description": e.description,
                    "masking": e.masking,
                    "first_seen": e.span.first,
                    "last_seen": e.span.last,
                }
                for e in batch.field_edges.values()
            ],
            ["output", "input", "type", "subtype"],
            lambda x: {
                "masking": or_(FEDGE.c.masking, x.masking),
                "description": _max(x.description, FEDGE.c.description),
                "first_seen": _min(x.first_seen, FEDGE.c.first_seen),
                "last_seen": _max(x.last_seen, FEDGE.c.last_seen),
            },
        )
        self._upsert(
            session,
            FPROD,
            [
                {"field_key": f, "job_gid": j, "first_seen": sp.first, "last_seen": sp.last}
                for (f, j), sp in batch.field_producers.items()
            ],
            ["field_key", "job_gid"],
            lambda x: {
                "first_seen": _min(x.first_seen, FPROD.c.first_seen),
                "last_seen": _max(x.last_seen, FPROD.c.last_seen),
            },
        )
        self._upsert(
            session,
            CLASS,
            [
                {"field_key": f, "pii_type": t, "source": src, "confidence": conf, "at": at}
                for (f, t, src), (conf, at) in batch.classifications.items()
            ],
            ["field_key", "pii_type", "source"],
            lambda x: {
                "confidence": case(
                    (
                        or_(
                            x.at > CLASS.c.at,
                            and_(x.at == CLASS.c.at, x.confidence > CLASS.c.confidence),
                        ),
                        x.confidence,
                    ),
                    else_=CLASS.c.confidence,
                ),
                "at": _max(x.at, CLASS.c.at),
            },
        )

    def _write_runs(self, session: Session, batch: GraphBatch) -> None:
        rows = [
            {
                "run_id": r.run_id,
                "job_gid": r.job_gid,
                "state": r.state,
                "state_rank": r.state_rank,
                "state_time": r.state_time,
                "started_at": r.started_at,
                "ended_at": r.ended_at,
                "created_at": r.span.first,
                "updated_at": r.span.last,
                "parent_run_id": r.parent_run_id,
                "attr_time": r.attr_time,
                "content": r.facets if r.attr_time is not None else "{}",
            }
            for r in batch.runs.values()
        ]

        def updates(x: Any) -> dict[str, Any]:
            better = or_(
                x.state_rank > RUN.c.state_rank,
                and_(
                    x.state_rank == RUN.c.state_rank,
                    or_(
                        x.state_time > RUN.c.state_time,
                        and_(x.state_time == RUN.c.state_time, x.state > RUN.c.state),
                    ),
                ),
            )
            newer = and_(
                x.attr_time.is_not(None),
                or_(
                    RUN.c.attr_time.is_(None),
                    x.attr_time > RUN.c.attr_time,
                    and_(x.attr_time == RUN.c.attr_time, x.content > RUN.c.content),
                ),
            )
            return {
                "job_gid": _min(x.job_gid, RUN.c.job_gid),
                "state": case((better, x.state), else_=RUN.c.state),
                "state_rank": case((better, x.state_rank), else_=RUN.c.state_rank),
                "state_time": case((better, x.state_time), else_=RUN.c.state_time),
                "started_at": case(
                    (
                        and_(
                            x.started_at.is_not(None),
                            or_(RUN.c.started_at.is_(None), x.started_at < RUN.c.started_at),
                        ),
                        x.started_at,
                    ),
                    else_=RUN.c.started_at,
                ),
                "ended_at": case(
                    (
                        and_(
                            x.ended_at.is_not(None),
                            or_(RUN.c.ended_at.is_(None), x.ended_at > RUN.c.ended_at),
                        ),
                        x.ended_at,
                    ),
                    else_=RUN.c.ended_at,
                ),
                "created_at": _min(x.created_at, RUN.c.created_at),
                "updated_at": _max(x.updated_at, RUN.c.updated_at),
                "parent_run_id": case(
                    (
                        and_(
                            x.parent_run_id.is_not(None),
                            or_(
                                RUN.c.parent_run_id.is_(None), x.parent_run_id < RUN.c.parent_run_id
                            ),
                        ),
                        x.parent_run_id,
                    ),
                    else_=RUN.c.parent_run_id,
                ),
                "content": case((newer, x.content), else_=RUN.c.content),
                "attr_time": case((newer, x.attr_time), else_=RUN.c.attr_time),
            }

        self._upsert(session, RUN, rows, ["run_id"], updates)
        self._upsert(
            session,
            RUNIO,
            [
                {"run_id": r, "dataset_gid": d, "direction": side, "at": at}
                for (r, d, side), at in batch.run_io.items()
            ],
            ["run_id", "dataset_gid", "direction"],
            lambda x: {"at": _min(x.at, RUNIO.c.at)},
        )

    def classify(
        self, field_key: str, pii_type: str, *, source: str, confidence: float, at: datetime
    ) -> None:
        self.write_batch(GraphBatch.for_classification(field_key, pii_type, source, confidence, at))

    # ---- traversals -----------------------------------------------------------------------------

    def _reach(
        self,
        session: Session,
        table: Table,
        src_col: str,
        dst_col: str,
        start: str,
        depth: int,
        as_of: datetime | None,
    ) -> dict[str, int]:
        src, dst = table.c[src_col], table.c[dst_col]
        walk = select(literal(start, String).label("node"), literal(0, Integer).label("depth")).cte(
            "walk", recursive=True
        )
        step = (
            select(dst.label("node"), (walk.c.depth + 1).label("depth"))
            .select_from(walk.join(table, src == walk.c.node))
            .where(walk.c.depth < depth)
        )
        if as_of is not None:
            step = step.where(table.c.first_seen <= as_of)
        walk = walk.union(step)
        rows = session.execute(select(walk.c.node, func.min(walk.c.depth)).group_by(walk.c.node))
        return {node: int(d) for node, d in rows}

    def _exists(self, session: Session, table: Table, column: str, value: str) -> bool:
        return (
            session.execute(select(table.c[column]).where(table.c[column] == value)).first()
            is not None
        )

    def walk(
        self,
        start: str,
        *,
        depth: int,
        direction: Direction,
        as_of: datetime | None = None,
        records: bool = False,
    ) -> Walk:
        depth = max(0, int(depth))
        out = Walk()
        with self._db.session() as session:
            if not self._exists(session, NODE, "gid", start):
                return out
            reached: dict[str, int] = {start: 0}
            if direction in ("downstream", "both"):
                for n, d in self._reach(session, EDGE, "src", "dst", start, depth, as_of).items():
                    reached[n] = min(d, reached.get(n, d))
            if direction in ("upstream", "both"):
                for n, d in self._reach(session, EDGE, "dst", "src", start, depth, as_of).items():
                    reached[n] = min(d, reached.get(n, d))
            keys = sorted(reached)
            for chunk in _chunks(keys):
                stmt = select(EDGE.c.src, EDGE.c.dst).where(EDGE.c.src.in_(chunk))
                if as_of is not None:
                    stmt = stmt.where(EDGE.c.first_seen <= as_of)
                for s, d in session.execute(stmt):
                    if d in reached:
                        out.edges.add((s, d))
        out.nodes = reached
        if records:
            out.datasets = self.datasets([g for g in reached if g.startswith("dataset")])
            out.jobs = self.jobs([g for g in reached if g.startswith("job")])
        return out

    def field_walk(
        self, start: str, *, depth: int, direction: Direction, as_of: datetime | None = None
    ) -> FieldWalk:
        depth = max(0, int(depth))
        out = FieldWalk()
        with self._db.session() as session:
            if not self._exists(session, FIELD, "key", start):
                return out
            reached: dict[str, int] = {start: 0}
            if direction in ("downstream", "both"):
                for n, d in self._reach(
                    session, FEDGE, "input", "output", start, depth, as_of
                ).items():
                    reached[n] = min(d, reached.get(n, d))
            if direction in ("upstream", "both"):
                for n, d in self._reach(
                    session, FEDGE, "output", "input", start, depth, as_of
                ).items():
                    reached[n] = min(d, reached.get(n, d))
            for chunk in _chunks(sorted(reached)):
                stmt = select(FEDGE).where(FEDGE.c.output.in_(chunk))
                if as_of is not None:
                    stmt = stmt.where(FEDGE.c.first_seen <= as_of)
                for row in session.execute(stmt).mappings():
                    if row["input"] in reached:
                        out.edges.append(
                            FieldEdge(
                                row["output"],
                                row["input"],
                                row["type"],
                                row["subtype"],
                                row["description"],
                                bool(row["masking"]),
                                _utc(row["first_seen"]),
                            )
                        )
        out.nodes = reached
        return out

    # ---- reads ----------------------------------------------------------------------------------

    def _fields_of(self, session: Session, gids: Sequence[str]) -> dict[str, list[str]]:
        fields: dict[str, list[str]] = {}
        for chunk in _chunks(list(gids)):
            for gid, name in session.execute(
                select(FIELD.c.dataset_gid, FIELD.c.name).where(FIELD.c.dataset_gid.in_(chunk))
            ):
                fields.setdefault(gid, []).append(name)
        return fields

    def datasets(self, gids: Sequence[str]) -> dict[str, DatasetRecord]:
        out: dict[str, DatasetRecord] = {}
        with self._db.session() as session:
            rows = []
            for chunk in _chunks(list(gids)):
                rows += list(
                    session.execute(
                        select(NODE).where(NODE.c.gid.in_(chunk), NODE.c.kind == "dataset")
                    ).mappings()
                )
            fields = self._fields_of(session, [r["gid"] for r in rows])
        for row in rows:
            out[row["gid"]] = _dataset_record(row, fields.get(row["gid"], []))
        return out

    def jobs(self, gids: Sequence[str]) -> dict[str, JobRecord]:
        gids = list(gids)
        out: dict[str, JobRecord] = {}
        with self._db.session() as session:
            rows = []
            inputs: dict[str, list[tuple[str, str]]] = {}
            outputs: dict[str, list[tuple[str, str]]] = {}
            latest: dict[str, RunRecord] = {}
            for chunk in _chunks(gids):
                rows += list(
                    session.execute(
                        select(NODE).where(NODE.c.gid.in_(chunk), NODE.c.kind == "job")
                    ).mappings()
                )
                for s, d in session.execute(
                    select(EDGE.c.src, EDGE.c.dst).where(EDGE.c.dst.in_(chunk))
                ):
                    _, ns, name = split_gid(s)
                    inputs.setdefault(d, []).append((ns, name))
                for s, d in session.execute(
                    select(EDGE.c.src, EDGE.c.dst).where(EDGE.c.src.in_(chunk))
                ):
                    _, ns, name = split_gid(d)
                    outputs.setdefault(s, []).append((ns, name))
                ranked = (
                    select(
                        RUN,
                        func.row_number()
                        .over(
                            partition_by=RUN.c.job_gid,
                            order_by=(RUN.c.updated_at.desc(), RUN.c.run_id.desc()),
                        )
                        .label("rank"),
                    )
                    .where(RUN.c.job_gid.in_(chunk))
                    .subquery()
                )
                for row in session.execute(select(ranked).where(ranked.c.rank == 1)).mappings():
                    latest[row["job_gid"]] = _run_record(row)
        for row in rows:
            gid = row["gid"]
            out[gid] = JobRecord(
                namespace=row["namespace"],
                name=row["name"],
                created_at=_at(row["created_at"]),
                updated_at=_at(row["updated_at"]),
                job_type=row["node_type"],
                description=row["description"],
                inputs=tuple(sorted(set(inputs.get(gid, [])))),
                outputs=tuple(sorted(set(outputs.get(gid, [])))),
                latest_run=latest.get(gid),
                facets=stored_facets(row["content"]),
            )
        return out

    def namespaces(self) -> list[NamespaceRecord]:
        with self._db.session() as session:
            rows = session.execute(select(NS).order_by(NS.c.name)).mappings().all()
        return [
            NamespaceRecord(r["name"], _at(r["created_at"]), _at(r["updated_at"])) for r in rows
        ]

    def _page(self, kind: str, namespace: str, limit: int, offset: int) -> tuple[int, list[str]]:
        where = and_(NODE.c.kind == kind, NODE.c.namespace == namespace)
        with self._db.session() as session:
            total = session.execute(
                select(func.count()).select_from(NODE).where(where)
            ).scalar_one()
            gids = list(
                session.execute(
                    select(NODE.c.gid)
                    .where(where)
                    .order_by(NODE.c.name)
                    .limit(limit)
                    .offset(offset)
                ).scalars()
            )
        return int(total), gids

    def list_datasets(
        self, namespace: str, limit: int, offset: int
    ) -> tuple[int, list[DatasetRecord]]:
        total, gids = self._page("dataset", namespace, limit, offset)
        found = self.datasets(gids)
        return total, [found[g] for g in gids if g in found]

    def list_jobs(self, namespace: str, limit: int, offset: int) -> tuple[int, list[JobRecord]]:
        total, gids = self._page("job", namespace, limit, offset)
        found = self.jobs(gids)
        return total, [found[g] for g in gids if g in found]

    def _runs_with_io(self, session: Session, rows: Sequence[Any]) -> list[RunRecord]:
        ids = [r["run_id"] for r in rows]
        io: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for chunk in _chunks(ids):
            for run_id, gid, side in session.execute(
                select(RUNIO.c.run_id, RUNIO.c.dataset_gid, RUNIO.c.direction).where(
                    RUNIO.c.run_id.in_(chunk)
                )
            ):
                _, ns, name = split_gid(gid)
                io.setdefault((run_id, side), []).append((ns, name))
        return [
            _run_record(
                r,
                tuple(sorted(io.get((r["run_id"], "in"), []))),
                tuple(sorted(io.get((r["run_id"], "out"), []))),
            )
            for r in rows
        ]

    def runs(
        self, namespace: str, job: str, limit: int, offset: int
    ) -> tuple[int, list[RunRecord]]:
        gid = f"job\x1f{namespace}\x1f{job}"
        with self._db.session() as session:
            total = session.execute(
                select(func.count()).select_from(RUN).where(RUN.c.job_gid == gid)
            ).scalar_one()
            rows = (
                session.execute(
                    select(RUN)
                    .where(RUN.c.job_gid == gid)
                    .order_by(RUN.c.created_at.desc(), RUN.c.run_id.desc())
                    .limit(limit)
                    .offset(offset)
                )
                .mappings()
                .all()
            )
            return int(total), self._runs_with_io(session, rows)

    def run(self, run_id: str) -> RunRecord | None:
        with self._db.session() as session:
            rows = (
                session.execute(select(RUN).where(RUN.c.run_id == run_id.lower())).mappings().all()
            )
            if not rows:
                return None
            return self._runs_with_io(session, rows)[0]

    def classifications(self, field_keys: Sequence[str]) -> dict[str, list[ClassificationRecord]]:
        out: dict[str, list[ClassificationRecord]] = {}
        with self._db.session() as session:
            for chunk in _chunks(list(field_keys)):
                for r in session.execute(
                    select(CLASS).where(CLASS.c.field_key.in_(chunk))
                ).mappings():
                    out.setdefault(r["field_key"], []).append(
                        ClassificationRecord(
                            r["field_key"],
                            r["pii_type"],
                            r["source"],
                            float(r["confidence"]),
                            _utc(r["at"]),
                        )
                    )
        for records in out.values():
            records.sort(key=lambda c: (c.pii_type, c.source))
        return out

    def field_jobs(self, field_keys: Sequence[str]) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        with self._db.session() as session:
            for chunk in _chunks(list(field_keys)):
                for f, j in session.execute(
                    select(FPROD.c.field_key, FPROD.c.job_gid).where(FPROD.c.field_key.in_(chunk))
                ):
                    out.setdefault(f, set()).add(j)
        return out

    def readers(self, dataset_gids: Sequence[str]) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        with self._db.session() as session:
            for chunk in _chunks(list(dataset_gids)):
                for d, j in session.execute(
                    select(EDGE.c.src, EDGE.c.dst).where(
                        EDGE.c.src.in_(chunk), EDGE.c.dst.startswith(f"job{SEP}")
                    )
                ):
                    out.setdefault(d, set()).add(j)
        return out

    def stats(self) -> StoreStats:
        with self._db.session() as session:

            def count(table: Table, *where: Any) -> int:
                return int(
                    session.execute(
                        select(func.count()).select_from(table).where(*where)
                    ).scalar_one()
                )

            return StoreStats(
                namespaces=count(NS),
                datasets=count(NODE, NODE.c.kind == "dataset"),
                jobs=count(NODE, NODE.c.kind == "job"),
                runs=count(RUN),
                fields=count(FIELD),
                field_edges=count(FEDGE),
            )

    def reset(self) -> None:
        with self._db.write_session() as session:
            for table in (CLASS, FPROD, FEDGE, RUNIO, RUN, FIELD, EDGE, NODE, NS):
                session.execute(table.delete())
            session.commit()


def _dataset_record(row: Any, fields: list[str]) -> DatasetRecord:
    return DatasetRecord(
        namespace=row["namespace"],
        name=row["name"],
        created_at=_at(row["created_at"]),
        updated_at=_at(row["updated_at"]),
        source_name=row["source_name"],
        description=row["description"],
        dataset_type=row["node_type"],
        fields=dataset_fields(fields, row["schema_fields"]),
        facets=stored_facets(row["content"]),
    )


def _run_record(
    row: Any, inputs: tuple[tuple[str, str], ...] = (), outputs: tuple[tuple[str, str], ...] = ()
) -> RunRecord:
    _, namespace, name = split_gid(row["job_gid"])
    return RunRecord(
        run_id=row["run_id"],
        job_namespace=namespace,
        job_name=name,
        state=row["state"],
        created_at=_at(row["created_at"]),
        updated_at=_at(row["updated_at"]),
        started_at=_utc(row["started_at"]),
        ended_at=_utc(row["ended_at"]),
        parent_run_id=row["parent_run_id"],
        facets=stored_facets(row["content"]),
        inputs=inputs,
        outputs=outputs,
    )
