"""Lineage over real HTTP: the openlineage-python client, Marquez reads, durability with Neo4j.

The service runs in its own uvicorn process with the Neo4j backend (a real Neo4j server) or the
embedded SQL store, and producers post through the official client's HttpTransport.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.generated.column_lineage_dataset import (
    ColumnLineageDatasetFacet,
    Fields,
    InputField,
    Transformation,
)
from openlineage.client.generated.schema_dataset import SchemaDatasetFacet, SchemaDatasetFacetFields
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport

from lineage.neo4j_server import Neo4jServer
from lineage.store.neo4j import Neo4jLineageStore
from tests.integration.conftest import LiveServer, make_database, start_server, stop_server
from tests.lineage_events import dataset, run_event

FAST_DRAIN = {
    "GOVERNANCE_LINEAGE__DRAIN_INTERVAL_SECONDS": "0.05",
    "GOVERNANCE_LINEAGE__MAX_BACKOFF_SECONDS": "1",
}


def neo4j_env(server: Neo4jServer) -> dict[str, str]:
    return {
        "GOVERNANCE_LINEAGE__BACKEND": "neo4j",
        "GOVERNANCE_LINEAGE__NEO4J_URI": server.uri,
        **FAST_DRAIN,
    }


@pytest.fixture(
    scope="module",
    params=[pytest.param("neo4j", marks=pytest.mark.neo4j), "sql"],
)
def lineage_live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp(f"lineage-{request.param}")
    url, cleanup = make_database("sqlite", tmp)
    env = dict(FAST_DRAIN)
    if request.param == "neo4j":
        server = request.getfixturevalue("neo4j_server")
        graph = Neo4jLineageStore(server.uri)
        graph.reset()
        graph.close()
        env = neo4j_env(server)
    live = start_server(tmp, url, extra_env=env)
    try:
        yield live
    finally:
        stop_server(live)
        cleanup()  # type: ignore[operator]


def wait_drained(live: LiveServer, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with live.client("auditor") as c:
        while True:
            status = c.get("/v1/lineage/status").json()
            if status["outboxDepth"] == 0:
                return dict(status)
            assert time.monotonic() < deadline, f"outbox not drained: {status}"
            time.sleep(0.1)


def client_for(live: LiveServer, *, gzip_body: bool = False) -> OpenLineageClient:
    config = HttpConfig(
        url=live.url,
        auth=ApiKeyTokenProvider({"apiKey": live.keys["service"]}),
        compression="gzip" if gzip_body else None,  # type: ignore[arg-type]
    )
    return OpenLineageClient(transport=HttpTransport(config))


def test_openlineage_client_start_complete_with_column_lineage(lineage_live: LiveServer) -> None:
    client = client_for(lineage_live)
    run_id = str(uuid.uuid4())
    job = Job(namespace="airflow", name="churn.build_features")
    customers = InputDataset(
        namespace="postgres://crm-db:5432",
        name="public.customers",
        facets={
            "schema": SchemaDatasetFacet(
                fields=[
                    SchemaDatasetFacetFields(name="id", type="INT"),
                    SchemaDatasetFacetFields(name="email", type="TEXT"),
                ]
            )
        },
    )
    features = OutputDataset(
        namespace="warehouse",
        name="ml.churn_features",
        facets={
            "columnLineage": ColumnLineageDatasetFacet(
                fields={
                    "customer_id": Fields(
                        inputFields=[
                            InputField(
                                namespace="postgres://crm-db:5432",
                                name="public.customers",
                                field="id",
                                transformations=[Transformation(type="DIRECT", subtype="IDENTITY")],
                            )
                        ]
                    ),
                    "email_hash": Fields(
                        inputFields=[
                            InputField(
                                namespace="postgres://crm-db:5432",
                                name="public.customers",
                                field="email",
                                transformations=[
                                    Transformation(
                                        type="DIRECT", subtype="TRANSFORMATION", masking=True
                                    )
                                ],
                            )
                        ]
                    ),
                }
            )
        },
    )
    started = datetime.now(UTC)
    client.emit(
        RunEvent(
            eventType=RunState.START,
            eventTime=started.isoformat(),
            run=Run(runId=run_id),
            job=job,
            inputs=[customers],
            outputs=[features],
            producer="https://github.com/omnishop-data/tests",
        )
    )
    client.emit(
        RunEvent(
            eventType=RunState.COMPLETE,
            eventTime=datetime.now(UTC).isoformat(),
            run=Run(runId=run_id),
            job=job,
            inputs=[customers],
            outputs=[features],
            producer="https://github.com/omnishop-data/tests",
        )
    )
    wait_drained(lineage_live)
    with lineage_live.client("auditor") as a:
        graph = a.get(
            "/api/v1/lineage", params={"nodeId": "job:airflow:churn.build_features", "depth": 5}
        ).json()
        runs = a.get("/api/v1/namespaces/airflow/jobs/churn.build_features/runs").json()
        columns = a.get(
            "/api/v1/column-lineage",
            params={"nodeId": "datasetField:warehouse:ml.churn_features:customer_id", "depth": 5},
        ).json()
        encoded = a.get(
            "/api/v1/namespaces/postgres%3A%2F%2Fcrm-db%3A5432/datasets/public.customers"
        )
        by_job = a.get(
            "/api/v1/column-lineage",
            params={"nodeId": "job:airflow:churn.build_features", "depth": 5},
        ).json()
        encoded_jobs = a.get("/api/v1/namespaces/airflow/jobs/churn.build_features")
        # a namespace holding '/' and '%': each is a single segment once encoded
        odd = a.get("/api/v1/namespaces/a%2Fb%25c/datasets")
    ids = {n["id"]: n for n in graph["graph"]}
    assert set(ids) == {
        "dataset:postgres://crm-db:5432:public.customers",
        "job:airflow:churn.build_features",
        "dataset:warehouse:ml.churn_features",
    }
    job_node = ids["job:airflow:churn.build_features"]
    assert job_node["type"] == "JOB"
    assert job_node["inEdges"] == [
        {
            "origin": "dataset:postgres://crm-db:5432:public.customers",
            "destination": "job:airflow:churn.build_features",
        }
    ]
    assert job_node["outEdges"] == [
        {
            "origin": "job:airflow:churn.build_features",
            "destination": "dataset:warehouse:ml.churn_features",
        }
    ]
    assert job_node["data"]["latestRun"]["state"] == "COMPLETED"
    source = ids["dataset:postgres://crm-db:5432:public.customers"]["data"]
    assert [f["name"] for f in source["fields"]] == ["email", "id"]
    assert runs["totalCount"] == 1
    assert runs["runs"][0]["id"] == run_id
    assert runs["runs"][0]["state"] == "COMPLETED"
    col_ids = {n["id"]: n for n in columns["graph"]}
    assert set(col_ids) == {
        "datasetField:warehouse:ml.churn_features:customer_id",
        "datasetField:postgres://crm-db:5432:public.customers:id",
    }
    node = col_ids["datasetField:warehouse:ml.churn_features:customer_id"]
    assert node["type"] == "DATASET_FIELD"
    assert node["data"]["inputFields"][0]["field"] == "id"
    assert encoded.status_code == 200
    assert encoded.json()["namespace"] == "postgres://crm-db:5432"
    # from a job, column lineage starts at the fields of its outputs (Marquez's rule)
    assert {n["id"] for n in by_job["graph"]} >= {
        "datasetField:warehouse:ml.churn_features:customer_id",
        "datasetField:postgres://crm-db:5432:public.customers:id",
    }
    assert encoded_jobs.json()["name"] == "churn.build_features"
    assert odd.status_code == 200
    assert odd.json() == {"totalCount": 0, "datasets": []}
    assert encoded.json()["id"] == {
        "namespace": "postgres://crm-db:5432",
        "name": "public.customers",
    }


def test_gzip_bodies_from_the_client(lineage_live: LiveServer) -> None:
    client = client_for(lineage_live, gzip_body=True)
    client.emit(
        RunEvent(
            eventType=RunState.COMPLETE,
            eventTime=datetime.now(UTC).isoformat(),
            run=Run(runId=str(uuid.uuid4())),
            job=Job(namespace="gz", name="compressed"),
            producer="https://github.com/omnishop-data/tests",
        )
    )
    wait_drained(lineage_live)
    with lineage_live.client("auditor") as a:
        assert a.get("/api/v1/namespaces/gz/jobs/compressed").status_code == 200


def outbox_total(live: LiveServer) -> int:
    with live.client("auditor") as a:
        s = a.get("/v1/lineage/status").json()
    return int(s["outboxDepth"] + s["processed"] + s["dead"])


def test_invalid_events_are_rejected_with_paths_and_nothing_is_written(
    lineage_live: LiveServer,
) -> None:
    before = outbox_total(lineage_live)
    bad = run_event(("x", "y"), "not-a-uuid")
    with lineage_live.client() as c:
        single = c.post("/api/v1/lineage", json=bad)
        not_json = c.post(
            "/api/v1/lineage", content=b"{oops", headers={"content-type": "application/json"}
        )
        batch = c.post(
            "/api/v1/lineage/batch",
            json=[
                run_event(("x", "y"), str(uuid.uuid4())),
                bad,
                run_event(("x", "y"), str(uuid.uuid4())),
            ],
        )
        bad_gzip = c.post(
            "/api/v1/lineage", content=b"not gzip", headers={"content-encoding": "gzip"}
        )
    assert single.status_code == 422
    assert single.headers["content-type"] == "application/problem+json"
    assert single.json()["errors"][0]["loc"] == "body.run.runId"
    assert not_json.status_code == 400
    assert batch.status_code == 422
    assert batch.json()["errors"][0]["loc"] == "body[1].run.runId"
    assert "nothing was accepted" in batch.json()["detail"]
    assert bad_gzip.status_code == 400
    assert outbox_total(lineage_live) == before


def test_batch_ingest_and_idempotency(lineage_live: LiveServer) -> None:
    run_id = str(uuid.uuid4())
    events = [
        run_event(
            ("batchns", "job"),
            run_id,
            "START",
            "2026-11-28T10:00:00Z",
            outputs=[dataset("batchns", "out", fields=["a"])],
        ),
        run_event(
            ("batchns", "job"),
            run_id,
            "COMPLETE",
            "2026-11-28T10:01:00Z",
            outputs=[dataset("batchns", "out", fields=["a"])],
        ),
    ]
    with lineage_live.client() as c:
        first = c.post("/api/v1/lineage/batch", json={"events": events})
        again = c.post("/api/v1/lineage/batch", json=list(reversed(events)))
        gz = c.post(
            "/api/v1/lineage/batch",
            content=gzip.compress(json.dumps(events).encode()),
            headers={"content-type": "application/json", "content-encoding": "gzip"},
        )
    assert first.status_code == 201
    assert first.json() == {"accepted": 2}
    assert again.status_code == 201
    assert gz.status_code == 201
    wait_drained(lineage_live)
    with lineage_live.client("auditor") as a:
        runs = a.get("/api/v1/namespaces/batchns/jobs/job/runs").json()
        datasets = a.get("/api/v1/namespaces/batchns/datasets").json()
    assert runs["totalCount"] == 1
    assert runs["runs"][0]["state"] == "COMPLETED"
    assert datasets["totalCount"] == 1


def test_who_may_read_and_write(lineage_live: LiveServer) -> None:
    with (
        lineage_live.client() as service,
        lineage_live.client("auditor") as auditor,
        lineage_live.client("steward") as steward,
    ):
        assert service.get("/api/v1/namespaces").status_code == 403
        assert steward.get("/api/v1/namespaces").status_code == 403
        assert (
            auditor.post(
                "/api/v1/lineage", json=run_event(("a", "b"), str(uuid.uuid4()))
            ).status_code
            == 403
        )
        assert (
            auditor.get("/api/v1/lineage", params={"nodeId": "dataset:none:nothing"}).status_code
            == 404
        )
        assert auditor.get("/api/v1/lineage", params={"nodeId": "table:x"}).status_code == 422
    assert httpx.get(f"{lineage_live.url}/api/v1/namespaces").status_code == 401


def test_decisions_and_steward_classifications_reach_the_graph(lineage_live: LiveServer) -> None:
    with lineage_live.client() as c:
        decided = c.post(
            "/v1/decide",
            json={
                "subject": {"id": "service:churn-pipeline"},
                "action": "read",
                "resource": {"dataset": "webshop/clickstream", "columns": ["ip_address"]},
                "purpose": "model_training",
                "context": {"region": "EU"},
            },
        ).json()
        assert decided["decision"] == "allow"
        c.post(
            "/api/v1/lineage",
            json=run_event(
                ("pipelines", "sessionize"),
                str(uuid.uuid4()),
                outputs=[
                    dataset(
                        "ml", "sessions", lineage={"ip": [("webshop", "clickstream", "ip_address")]}
                    )
                ],
            ),
        )
    with lineage_live.client("steward") as s:
        classified = s.post(
            "/v1/lineage/classifications",
            json={"nodeId": "datasetField:webshop:clickstream:ip_address", "piiType": "IP_ADDRESS"},
        )
    assert classified.status_code == 201
    wait_drained(lineage_live)
    with lineage_live.client("auditor") as a:
        access = a.get("/api/v1/namespaces/governance.access/jobs/service:churn-pipeline").json()
        flow = a.get(
            "/v1/lineage/pii-flow", params={"nodeId": "datasetField:webshop:clickstream:ip_address"}
        ).json()
        inherited = a.get(
            "/v1/lineage/classifications", params={"nodeId": "datasetField:ml:sessions:ip"}
        ).json()
    assert access["inputs"] == [{"namespace": "webshop", "name": "clickstream"}]
    assert access["latestRun"]["id"] == decided["decision_id"]
    assert [r["field"] for r in flow["reaches"]] == ["datasetField:ml:sessions:ip"]
    assert flow["reaches"][0]["piiTypes"] == ["IP_ADDRESS"]
    assert (
        inherited["classifications"][0]["origin"] == "datasetField:webshop:clickstream:ip_address"
    )
    assert inherited["classifications"][0]["source"] == "lineage"


@pytest.mark.neo4j
@pytest.mark.slow
def test_kill_neo4j_mid_stream_and_lose_nothing(neo4j_server: Neo4jServer, tmp_path: Path) -> None:
    """Every accepted event is in the graph exactly once after Neo4j is killed and restarted."""
    graph = Neo4jLineageStore(neo4j_server.uri)
    graph.setup()
    graph.reset()
    graph.close()
    url, cleanup = make_database("sqlite", tmp_path)
    live = start_server(tmp_path, url, extra_env=neo4j_env(neo4j_server))
    runs = [str(uuid.uuid4()) for _ in range(150)]
    accepted: list[str] = []
    failures: list[str] = []
    half = threading.Event()

    def produce() -> None:
        with live.client() as c:
            for i, run_id in enumerate(runs):
                events = [
                    run_event(
                        ("kill", f"job{i % 7}"),
                        run_id,
                        "START",
                        "2026-11-28T10:00:00Z",
                        inputs=[dataset("kill", f"src{i % 11}", fields=["a", "b"])],
                        outputs=[
                            dataset(
                                "kill",
                                f"dst{i % 13}",
                                lineage={"a": [("kill", f"src{i % 11}", "a")]},
                            )
                        ],
                    ),
                    run_event(("kill", f"job{i % 7}"), run_id, "COMPLETE", "2026-11-28T10:05:00Z"),
                ]
                for event in events:
                    r = c.post("/api/v1/lineage", json=event)
                    if r.status_code != 201:
                        failures.append(f"{r.status_code} {r.text[:200]}")
                accepted.append(run_id)
                if i == len(runs) // 3:
                    half.set()
                time.sleep(0.005)

    producer = threading.Thread(target=produce)
    try:
        producer.start()
        assert half.wait(60)
        neo4j_server.kill()
        with live.client("auditor") as a:
            down = a.get("/api/v1/lineage", params={"nodeId": "job:kill:job1"})
        assert down.status_code == 503
        assert down.headers["content-type"] == "application/problem+json"
        producer.join(timeout=300)
        assert not failures, failures[:3]
        # the drain notices only after the driver's own retries give up (about 5 s)
        deadline = time.monotonic() + 60
        with live.client("auditor") as a:
            status = a.get("/v1/lineage/status").json()
            while not status["lastError"] and time.monotonic() < deadline:
                time.sleep(0.5)
                status = a.get("/v1/lineage/status").json()
        assert status["outboxDepth"] > 0  # accepted while the graph was down
        assert "unavailable" in status["lastError"]
        neo4j_server.start()
        wait_drained(live, timeout=180)
        graph = Neo4jLineageStore(neo4j_server.uri)
        try:
            stats = graph.stats()
            assert stats.runs == len(runs) == len(accepted)
            assert stats.jobs == 7
            assert stats.datasets == 11 + 13
            records = [graph.run(r) for r in runs]
            assert all(r is not None and r.state == "COMPLETED" for r in records)
            counts = graph._read(  # exactly once: no duplicate relationships either
                "MATCH (j:Job)-[h:HAS_RUN]->(r:Run) WITH r, count(h) AS n RETURN max(n) AS most"
            )
            assert counts[0]["most"] == 1
        finally:
            graph.close()
    finally:
        if not neo4j_server.running:
            neo4j_server.start()
        stop_server(live)
        cleanup()  # type: ignore[operator]
