"""Access and erasure over real SQL sources (SQLite and PostgreSQL) and observed lineage.

The property: for generated tables holding random subjects (some by pseudonym, some by keyed
hash), with lineage between them, the access search finds exactly the tables that hold the
subject; after erasure no query finds them, the other subjects' rows are untouched, and the
receipts count what was there.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.db import Database
from governance.pdp.catalog import Catalog, DatasetInfo, IdentifierColumn, SourceSpec
from governance.pii.keyring import KeyRing
from governance.pii.operators import Protector
from governance.subjects.erasure import Eraser, StepPermission, make_plan
from governance.subjects.identifiers import SubjectIdentifiers, SubjectKeys
from governance.subjects.search import SourceConnections, SubjectSearch
from lineage.events import parse_event
from lineage.store.sql import SqlLineageStore
from lineage.subject_view import StoreSubjectView

RING = KeyRing.generate()
PROTECTOR = Protector(RING, domains={"training": "ml"})
SUBJECTS = [f"CU1000{n:04d}" for n in range(6)]
MODES = ("plain", "pseudonymize", "hash")


@dataclass(frozen=True)
class TableSpec:
    mode: str
    holders: tuple[int, ...]  # subject indexes, one row each (repeats allowed)


tables_strategy = st.lists(
    st.builds(
        TableSpec,
        mode=st.sampled_from(MODES),
        holders=st.lists(st.integers(0, len(SUBJECTS) - 1), max_size=6).map(tuple),
    ),
    min_size=2,
    max_size=5,
)


def _stored(value: str, mode: str) -> str:
    if mode == "pseudonymize":
        token = PROTECTOR.pseudonymize(value, "CUSTOMER_ID", purpose="training")
    elif mode == "hash":
        token = PROTECTOR.hash(value, "CUSTOMER_ID")
    else:
        token = value
    assert token is not None
    return token


def _event(namespace: str, job: str, source: str, target: str) -> Any:
    return parse_event(
        {
            "eventType": "COMPLETE",
            "eventTime": "2026-11-30T10:00:00Z",
            "producer": "https://example.com/test",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": str(uuid.uuid4())},
            "job": {"namespace": namespace, "name": job},
            "inputs": [{"namespace": namespace, "name": source}],
            "outputs": [{"namespace": namespace, "name": target}],
        }
    )


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    tables=tables_strategy,
    edges=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), max_size=6),
    target=st.integers(0, len(SUBJECTS) - 1),
)
def test_access_finds_exactly_and_erasure_leaves_nothing(
    database: Database,
    database_url: str,
    tables: list[TableSpec],
    edges: list[tuple[int, int]],
    target: int,
) -> None:
    prefix = f"dsr{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(database_url)
    meta = sa.MetaData()
    names = [f"{prefix}_t{i}" for i in range(len(tables))]
    datasets: dict[str, DatasetInfo] = {}
    for name, spec in zip(names, tables, strict=True):
        table = sa.Table(
            name,
            meta,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("customer", sa.String(80), nullable=False, index=True),
            sa.Column("note", sa.String(20)),
        )
        transform = None if spec.mode == "plain" else spec.mode
        datasets[f"{prefix}/{name}"] = DatasetInfo(
            name=f"{prefix}/{name}",
            owner="test",
            channel="test",
            columns={"customer": "CUSTOMER_ID", "note": "NONE"},
            source=SourceSpec(
                "DSR_TEST_URL",
                name,
                "id",
                {
                    "customer_id": IdentifierColumn(
                        "customer", transform, "ml" if transform == "pseudonymize" else None
                    )
                },
            ),
        )
        del table
    meta.create_all(engine)
    connections = SourceConnections({"DSR_TEST_URL": database_url})
    try:
        with engine.begin() as conn:
            for name, spec in zip(names, tables, strict=True):
                rows = [
                    {"id": i, "customer": _stored(SUBJECTS[h], spec.mode), "note": "x"}
                    for i, h in enumerate(spec.holders)
                ]
                if rows:
                    conn.execute(meta.tables[name].insert(), rows)
        store = SqlLineageStore(database)
        dag = sorted({(a, b) for a, b in edges if a < b < len(tables)})
        store.write([_event(prefix, f"job{a}_{b}", names[a], names[b]) for a, b in dag])
        catalog = Catalog(datasets)
        search = SubjectSearch(
            lambda: catalog,
            lambda: PROTECTOR,
            connections,
            StoreSubjectView(store),
        )
        keys = SubjectKeys(RING)
        subject = SubjectIdentifiers(customer_id=SUBJECTS[target])
        identifiers = keys.identifiers(subject)

        found = search.find(identifiers, subject.items())
        holding = {
            f"{prefix}/{n}" for n, spec in zip(names, tables, strict=True) if target in spec.holders
        }
        assert set(found.datasets) == holding
        assert not found.errors
        for hit in found.hits:
            spec = tables[names.index(hit.dataset.split("/", 1)[1])]
            assert len(hit.rows) == spec.holders.count(target)

        with engine.connect() as conn:
            before = {
                n: [row.customer for row in conn.execute(sa.select(meta.tables[n]))] for n in names
            }
        request_id = str(uuid.uuid4())
        plan = make_plan(request_id, found, catalog, search.lineage)
        position = {s.dataset: s.step for s in plan.steps}
        for up, down in dag:  # downstream first
            a, b = f"{prefix}/{names[up]}", f"{prefix}/{names[down]}"
            if a in position and b in position:
                assert position[b] < position[a]
        receipts = Eraser(database, search, lambda: catalog).execute(
            plan, identifiers, subject.items(), lambda step: StepPermission(True, "test")
        )
        assert all(r.status == "done" for r in receipts)
        for receipt in receipts:
            spec = tables[names.index(receipt.dataset.split("/", 1)[1])]
            assert receipt.rows_found == receipt.rows_erased == spec.holders.count(target)
            assert receipt.rows_remaining == 0
        assert search.find(identifiers, subject.items()).datasets == []
        for n, spec in zip(names, tables, strict=True):
            with engine.connect() as conn:
                after = [row.customer for row in conn.execute(sa.select(meta.tables[n]))]
            kept = [
                c for c, h in zip(before[n], spec.holders, strict=True) if h != target
            ]  # every other subject's rows are still there, unchanged
            assert sorted(after) == sorted(kept)
        # a second run of the same plan is a no-op
        again = Eraser(database, search, lambda: catalog).execute(
            plan, identifiers, subject.items(), lambda step: StepPermission(True, "test")
        )
        assert [r.model_dump() for r in again] == [r.model_dump() for r in receipts]
    finally:
        connections.close()
        meta.drop_all(engine)
        engine.dispose()
