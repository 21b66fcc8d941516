"""One contract for both lineage stores: SQL (SQLite, PostgreSQL) and Neo4j behave the same.

The same tests run against the embedded SQL store on both databases and against a real Neo4j
server. The property test writes random event sequences in two different orders, chunkings and
with duplicates, and expects identical graphs: writes are idempotent and order-insensitive.
"""

from __future__ import annotations

import random
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.db import create_database
from lineage.events import field_key
from lineage.queries import LineageQueries
from lineage.store import LineageStore, dataset_gid, job_gid
from lineage.store.neo4j import Neo4jLineageStore
from lineage.store.sql import SqlLineageStore
from tests.conftest import _truncate_all
from tests.lineage_events import dataset, parsed, run_event

T0 = "2026-11-28T10:00:00Z"
T1 = "2026-11-28T10:05:00Z"
T2 = "2026-11-28T10:10:00Z"


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("neo4j", marks=pytest.mark.neo4j),
    ]
)
def store(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[Any]:
    if request.param == "neo4j":
        server = request.getfixturevalue("neo4j_server")
        graph = Neo4jLineageStore(server.uri)
        graph.setup()
        graph.reset()
        yield graph
        graph.close()
        return
    if request.param == "sqlite":
        path = tmp_path / "lineage.db"
        shutil.copy(sqlite_template, path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_database")
        _truncate_all(url)
    db = create_database(url)
    yield SqlLineageStore(db)
    db.dispose()


def pipeline() -> list[dict[str, Any]]:
    """crm.customers → [build_features] → ml.features → [train] → ml.churn_model."""
    r1, r2 = str(uuid.UUID(int=1)), str(uuid.UUID(int=2))
    customers = dataset(
        "crm",
        "customers",
        fields=["id", "email", "name"],
        classifications={"email": ["EMAIL_ADDRESS"], "name": ["PERSON"]},
        description="one row per customer",
    )
    features = dataset(
        "ml",
        "features",
        fields=["customer_id", "email_hash", "contact"],
        lineage={
            "customer_id": [("crm", "customers", "id", {"type": "DIRECT", "subtype": "IDENTITY"})],
            "email_hash": [
                (
                    "crm",
                    "customers",
                    "email",
                    {"type": "DIRECT", "subtype": "TRANSFORMATION", "masking": True},
                )
            ],
            "contact": [
                ("crm", "customers", "email", {"type": "DIRECT", "subtype": "IDENTITY"}),
                ("crm", "customers", "name", {"type": "INDIRECT", "subtype": "FILTER"}),
            ],
        },
    )
    model = dataset(
        "ml",
        "churn_model",
        fields=["contact_seen"],
        lineage={
            "contact_seen": [
                ("ml", "features", "contact", {"type": "DIRECT", "subtype": "AGGREGATION"})
            ]
        },
        dataset_type="MODEL",
    )
    return [
        run_event(
            ("etl", "build_features"), r1, "START", T0, inputs=[customers], outputs=[features]
        ),
        run_event(
            ("etl", "build_features"), r1, "COMPLETE", T1, inputs=[customers], outputs=[features]
        ),
        run_event(
            ("ml", "train"),
            r2,
            "COMPLETE",
            T2,
            inputs=[dataset("ml", "features")],
            outputs=[model],
            job_type="TRAINING",
        ),
    ]


CUSTOMERS = dataset_gid("crm", "customers")
FEATURES = dataset_gid("ml", "features")
MODEL = dataset_gid("ml", "churn_model")
BUILD = job_gid("etl", "build_features")
TRAIN = job_gid("ml", "train")


def test_walks_follow_the_pipeline(store: LineageStore) -> None:
    store.write(parsed(*pipeline()))
    down = store.walk(CUSTOMERS, depth=10, direction="downstream")
    assert set(down.nodes) == {CUSTOMERS, BUILD, FEATURES, TRAIN, MODEL}
    assert down.nodes[MODEL] == 4
    assert down.edges == {(CUSTOMERS, BUILD), (BUILD, FEATURES), (FEATURES, TRAIN), (TRAIN, MODEL)}
    up = store.walk(MODEL, depth=2, direction="upstream")
    assert set(up.nodes) == {MODEL, TRAIN, FEATURES}
    both = store.walk(FEATURES, depth=1, direction="both")
    assert set(both.nodes) == {FEATURES, BUILD, TRAIN}
    assert store.walk(dataset_gid("nope", "nothing"), depth=3, direction="both").nodes == {}


def test_point_in_time(store: LineageStore) -> None:
    store.write(parsed(*pipeline()))
    before_training = datetime(2026, 11, 28, 10, 7, tzinfo=UTC)
    walk = store.walk(CUSTOMERS, depth=10, direction="downstream", as_of=before_training)
    assert set(walk.nodes) == {CUSTOMERS, BUILD, FEATURES}


def test_out_of_order_events_end_the_run_right(store: LineageStore) -> None:
    events = pipeline()
    store.write(parsed(events[1]))  # COMPLETE first
    store.write(parsed(events[0]))  # then START
    run = store.run(str(uuid.UUID(int=1)))
    assert run is not None
    assert run.state == "COMPLETED"
    assert run.started_at == datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    assert run.ended_at == datetime(2026, 11, 28, 10, 5, tzinfo=UTC)
    assert run.inputs == (("crm", "customers"),)
    assert run.outputs == (("ml", "features"),)


def test_replaying_events_changes_nothing(store: LineageStore) -> None:
    events = parsed(*pipeline())
    store.write(events)
    first = snapshot(store)
    store.write(events)
    store.write(list(reversed(events)))
    assert snapshot(store) == first


def test_records(store: LineageStore) -> None:
    store.write(parsed(*pipeline()))
    datasets = store.datasets([CUSTOMERS, MODEL, dataset_gid("x", "y")])
    assert set(datasets) == {CUSTOMERS, MODEL}
    assert [f.name for f in datasets[CUSTOMERS].fields] == ["email", "id", "name"]
    assert datasets[CUSTOMERS].description == "one row per customer"
    assert datasets[MODEL].dataset_type == "MODEL"
    jobs = store.jobs([BUILD, TRAIN])
    assert jobs[BUILD].inputs == (("crm", "customers"),)
    assert jobs[BUILD].outputs == (("ml", "features"),)
    assert jobs[BUILD].latest_run is not None
    assert jobs[BUILD].latest_run.state == "COMPLETED"
    assert jobs[TRAIN].job_type == "TRAINING"
    assert [n.name for n in store.namespaces()] == ["crm", "etl", "ml"]
    total, page = store.list_datasets("ml", limit=1, offset=1)
    assert total == 2
    assert [d.name for d in page] == ["features"]
    total, runs = store.runs("etl", "build_features", 10, 0)
    assert total == 1
    assert runs[0].run_id == str(uuid.UUID(int=1))
    stats = store.stats()
    assert (stats.datasets, stats.jobs, stats.runs) == (3, 2, 2)


def test_walk_with_records_brings_what_datasets_and_jobs_say(store: LineageStore) -> None:
    store.write(parsed(*pipeline()))
    walk = store.walk(FEATURES, depth=5, direction="both", records=True)
    assert set(walk.datasets) == {CUSTOMERS, FEATURES, MODEL}
    assert set(walk.jobs) == {BUILD, TRAIN}
    assert walk.datasets == store.datasets([CUSTOMERS, FEATURES, MODEL])
    assert walk.jobs == store.jobs([BUILD, TRAIN])
    assert walk.jobs[TRAIN].inputs == (("ml", "features"),)
    assert [f.name for f in walk.datasets[CUSTOMERS].fields] == ["email", "id", "name"]


def test_latest_run_is_the_newest_whatever_the_arrival_order(store: LineageStore) -> None:
    """Marquez's latestRun: the run updated last (ties: the greater run id)."""
    job = ("etl", "nightly")
    times = [f"2026-11-{day:02d}T02:00:00Z" for day in range(1, 13)]
    runs = [str(uuid.UUID(int=100 + i)) for i in range(len(times))]
    events = [run_event(job, r, "COMPLETE", t) for r, t in zip(runs, times, strict=True)]
    tie = str(uuid.UUID(int=999))  # same time as the newest, greater id: wins the tie
    events.append(run_event(job, tie, "FAIL", times[-1]))
    random.Random(5).shuffle(events)
    for e in events:
        store.write(parsed(e))
    latest = store.jobs([job_gid(*job)])[job_gid(*job)].latest_run
    assert latest is not None
    assert (latest.run_id, latest.state) == (tie, "FAILED")
    # an older run seen again later (a late RUNNING) does not become the latest
    store.write(parsed(run_event(job, runs[0], "RUNNING", times[0])))
    latest = store.jobs([job_gid(*job)])[job_gid(*job)].latest_run
    assert latest is not None
    assert latest.run_id == tie
    # the newest run grows newer still, then another run moves in with an even newer time
    store.write(parsed(run_event(job, runs[3], "COMPLETE", "2026-11-20T02:00:00Z")))
    walk = store.walk(job_gid(*job), depth=1, direction="both", records=True)
    assert walk.jobs[job_gid(*job)].latest_run is not None
    assert walk.jobs[job_gid(*job)].latest_run.run_id == runs[3]


def test_column_lineage_and_classifications(store: LineageStore) -> None:
    store.write(parsed(*pipeline()))
    email = field_key("crm", "customers", "email")
    walk = store.field_walk(email, depth=5, direction="downstream")
    assert set(walk.nodes) == {
        email,
        field_key("ml", "features", "email_hash"),
        field_key("ml", "features", "contact"),
        field_key("ml", "churn_model", "contact_seen"),
    }
    masked = [e for e in walk.edges if e.output == field_key("ml", "features", "email_hash")]
    assert len(masked) == 1
    assert masked[0].masking
    assert not masked[0].carries_values
    classes = store.classifications([email, field_key("crm", "customers", "name")])
    assert [(c.pii_type, c.source) for c in classes[email]] == [("EMAIL_ADDRESS", "scan")]
    producers = store.field_jobs([field_key("ml", "features", "contact")])
    assert producers == {field_key("ml", "features", "contact"): {BUILD}}
    store.classify(
        field_key("ml", "features", "customer_id"),
        "CUSTOMER_ID",
        source="steward",
        confidence=1.0,
        at=datetime(2026, 11, 28, 11, tzinfo=UTC),
    )
    stewarded = store.classifications([field_key("ml", "features", "customer_id")])
    assert [
        (c.pii_type, c.source) for c in stewarded[field_key("ml", "features", "customer_id")]
    ] == [("CUSTOMER_ID", "steward")]


def test_pii_flow_stops_at_masking_and_records_origin(store: LineageStore) -> None:
    store.write(parsed(*pipeline()))
    queries = LineageQueries(store)
    flow = queries.pii_flow("datasetField:crm:customers:email")
    assert flow["piiTypes"] == ["EMAIL_ADDRESS"]
    reached = {r["field"]: r for r in flow["reaches"]}
    assert set(reached) == {
        "datasetField:ml:features:contact",
        "datasetField:ml:churn_model:contact_seen",
    }
    assert reached["datasetField:ml:churn_model:contact_seen"]["path"] == [
        "datasetField:crm:customers:email",
        "datasetField:ml:features:contact",
        "datasetField:ml:churn_model:contact_seen",
    ]
    assert {(s["field"], s["reason"]) for s in flow["stopped"]} == {
        ("datasetField:ml:features:email_hash", "masking transformation")
    }
    # the name only filters `contact` (INDIRECT): PERSON does not travel there
    inherited = queries.classifications_of("datasetField:ml:churn_model:contact_seen")
    assert [(c["piiType"], c["source"], c["origin"]) for c in inherited["classifications"]] == [
        ("EMAIL_ADDRESS", "lineage", "datasetField:crm:customers:email")
    ]
    impact = queries.impact("dataset:crm:customers")
    assert impact["datasets"] == ["dataset:ml:churn_model", "dataset:ml:features"]
    assert impact["jobs"] == ["job:etl:build_features", "job:ml:train"]
    assert {m["id"] for m in impact["models"]} == {"dataset:ml:churn_model", "job:ml:train"}


def snapshot(store: LineageStore) -> dict[str, Any]:
    """Everything the store can say, through the protocol only."""
    out: dict[str, Any] = {"stats": store.stats(), "namespaces": store.namespaces()}
    fields: list[str] = []
    for ns in out["namespaces"]:
        _, datasets = store.list_datasets(ns.name, 10_000, 0)
        _, jobs = store.list_jobs(ns.name, 10_000, 0)
        out[f"datasets/{ns.name}"] = datasets
        out[f"jobs/{ns.name}"] = jobs
        for job in jobs:
            out[f"runs/{ns.name}/{job.name}"] = store.runs(ns.name, job.name, 10_000, 0)
        for d in datasets:
            fields += [field_key(d.namespace, d.name, f.name) for f in d.fields]
            walk = store.walk(dataset_gid(d.namespace, d.name), depth=50, direction="both")
            out[f"walk/{d.namespace}/{d.name}"] = (walk.nodes, walk.edges)
            full = store.walk(
                dataset_gid(d.namespace, d.name), depth=50, direction="both", records=True
            )
            assert (full.nodes, full.edges) == (walk.nodes, walk.edges)
            assert full.datasets == store.datasets([g for g in walk.nodes if "dataset" in g])
            assert full.jobs == store.jobs([g for g in walk.nodes if g.startswith("job")])
    out["classifications"] = store.classifications(sorted(fields))
    out["producers"] = store.field_jobs(sorted(fields))
    for key in sorted(fields):
        walk = store.field_walk(key, depth=50, direction="both")
        out[f"field/{key}"] = (
            walk.nodes,
            sorted(walk.edges, key=lambda e: (e.output, e.input, e.type, e.subtype)),
        )
    return out


JOBS = [("etl", "a"), ("etl", "b"), ("ml", "c")]
DATASETS = [("crm", "x"), ("crm", "y"), ("ml", "z"), ("ml", "w")]
RUNS = [str(uuid.UUID(int=i)) for i in range(1, 5)]
TIMES = ["2026-11-28T10:00:00Z", "2026-11-28T10:01:00Z", "2026-11-28T10:02:00Z"]


@st.composite
def random_dataset(draw: st.DrawFn) -> dict[str, Any]:
    ns, name = draw(st.sampled_from(DATASETS))
    fields = draw(st.lists(st.sampled_from(["a", "b", ("a", "int"), ("b", "long")]), max_size=2))
    lineage: dict[str, list[Any]] = {}
    if draw(st.booleans()):
        src = draw(st.sampled_from(DATASETS))
        transformation = draw(
            st.sampled_from(
                [
                    {"type": "DIRECT", "subtype": "IDENTITY"},
                    {"type": "DIRECT", "subtype": "TRANSFORMATION", "masking": True},
                    {"type": "INDIRECT", "subtype": "JOIN"},
                ]
            )
        )
        lineage[draw(st.sampled_from(["a", "b"]))] = [
            (src[0], src[1], draw(st.sampled_from(["a", "b"])), transformation)
        ]
    classifications = {"a": ["EMAIL_ADDRESS"]} if draw(st.booleans()) else None
    description = draw(st.sampled_from([None, "old", "new"]))
    return dataset(
        ns,
        name,
        fields=fields,
        lineage=lineage or None,
        classifications=classifications,
        description=description,
    )


@st.composite
def random_event(draw: st.DrawFn) -> dict[str, Any]:
    return run_event(
        draw(st.sampled_from(JOBS)),
        draw(st.sampled_from(RUNS)),
        draw(st.sampled_from(["START", "RUNNING", "COMPLETE", "FAIL", "OTHER"])),
        draw(st.sampled_from(TIMES)),
        inputs=draw(st.lists(random_dataset(), max_size=2)),
        outputs=draw(st.lists(random_dataset(), max_size=2)),
        job_description=draw(st.sampled_from([None, "v1", "v2"])),
    )


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(events=st.lists(random_event(), min_size=1, max_size=8), seed=st.integers(0, 2**16))
def test_any_order_and_duplicates_give_the_same_graph(
    store: LineageStore, events: list[dict[str, Any]], seed: int
) -> None:
    reset = getattr(store, "reset")  # noqa: B009 - both stores have it; not in the protocol
    reset()
    store.write(parsed(*events))
    expected = snapshot(store)
    reset()
    rng = random.Random(seed)
    shuffled = events + rng.sample(events, k=min(3, len(events)))
    rng.shuffle(shuffled)
    i = 0
    while i < len(shuffled):
        step = rng.randint(1, 3)
        store.write(parsed(*shuffled[i : i + step]))
        i += step
    assert snapshot(store) == expected
