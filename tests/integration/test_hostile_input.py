"""What an attacker or a broken client sends gets a clear 4xx, and harms nobody else."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import httpx
import pytest

from tests.integration.conftest import LiveServer

DECISION = {
    "subject": {"id": "service:churn-pipeline"},
    "action": "read",
    "resource": {"dataset": "crm/customers", "columns": ["email"]},
    "purpose": "model_training",
    "context": {"region": "EU", "channel": "crm"},
}


def _event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventType": "COMPLETE",
        "eventTime": "2026-12-01T10:00:00Z",
        "producer": "https://example.com/hostile-test",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "hostile", "name": "job"},
        "inputs": [],
        "outputs": [],
    }
    event.update(overrides)
    return event


def _post_raw(client: httpx.Client, path: str, body: str) -> httpx.Response:
    return client.post(path, content=body.encode(), headers={"content-type": "application/json"})


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def _outbox_depth(live: LiveServer) -> int:
    with live.client("auditor") as auditor:
        status = auditor.get("/v1/lineage/status").json()
    return int(status["outboxDepth"]) + int(status["processed"]) + int(status["dead"])


def test_a_lone_surrogate_is_refused_by_field(live: LiveServer) -> None:
    raw = json.dumps(DECISION).replace('"crm"}', '"crm", "note": "\\ud800"}')
    with live.client() as client:
        body = _problem(_post_raw(client, "/v1/decide", raw), 422)
    assert body["errors"][0]["loc"] == "body.context.note"


def test_nul_is_refused_by_field(live: LiveServer) -> None:
    raw = json.dumps({**DECISION, "context": {"region": "EU\u0000", "channel": "crm"}})
    with live.client() as client:
        body = _problem(_post_raw(client, "/v1/decide", raw), 422)
        assert body["errors"][0]["loc"] == "body.context.region"
        event = json.dumps(_event(job={"namespace": "hostile", "name": "a\u0000b"}))
        before = _outbox_depth(live)
        body = _problem(_post_raw(client, "/api/v1/lineage", event), 422)
        assert body["errors"][0]["loc"] == "body.job.name"
        assert _outbox_depth(live) == before


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_not_json(live: LiveServer, literal: str) -> None:
    with live.client() as client:
        raw = json.dumps(DECISION).replace('"crm"}', f'"crm", "score": {literal}}}')
        _problem(_post_raw(client, "/v1/decide", raw), 400)
        before = _outbox_depth(live)
        event = json.dumps(_event(run={"runId": str(uuid.uuid4()), "facets": {}}))
        event = event.replace('"facets": {}', f'"facets": {{"x": {{"v": {literal}}}}}')
        _problem(_post_raw(client, "/api/v1/lineage", event), 400)
        assert _outbox_depth(live) == before  # never acknowledged, never stuck in the outbox


@pytest.mark.parametrize("depth", [100, 100_000])
def test_deep_nesting_is_refused_and_the_connection_survives(live: LiveServer, depth: int) -> None:
    nested = "[" * depth + "]" * depth
    with live.client() as client:
        event = json.dumps(_event()).replace('"inputs": []', f'"inputs": {nested}')
        response = _post_raw(client, "/api/v1/lineage", event)
        assert response.status_code in (400, 422)
        _problem(response, response.status_code)
        raw = json.dumps(DECISION).replace('"crm"}', f'"crm", "deep": {nested}}}')
        response = _post_raw(client, "/v1/decide", raw)
        _problem(response, response.status_code)
        assert response.status_code in (400, 422)
        # the same keep-alive connection still answers
        assert client.post("/v1/decide", json=DECISION).status_code == 200


def test_an_event_time_past_year_9999_in_utc_is_refused(live: LiveServer) -> None:
    with live.client() as client:
        body = _problem(
            client.post("/api/v1/lineage", json=_event(eventTime="9999-12-31T23:59:59-14:00")),
            422,
        )
    assert "eventTime" in body["detail"]


@pytest.mark.parametrize(
    ("role", "path"),
    [
        ("auditor", "/v1/audit/decisions?after=9223372036854775808"),
        ("auditor", "/v1/audit/decisions?after=99999999999999999999999"),
        ("auditor", "/v1/audit/decisions?since=9999-12-31T23:59:59-14:00"),
        ("auditor", "/api/v1/namespaces/hostile/jobs?offset=9223372036854775808"),
        ("auditor", "/api/v1/namespaces/hostile/datasets?limit=100000"),
        ("auditor", "/v1/lineage/graph?nodeId=dataset:a:b&asOf=9999-12-31T23:59:59-14:00"),
    ],
)
def test_out_of_range_parameters_are_422(live: LiveServer, role: str, path: str) -> None:
    with live.client(role) as client:
        body = _problem(client.get(path), 422)
    assert body["errors"][0]["loc"].startswith("query.")


def test_nul_in_the_query_or_path_is_400(live: LiveServer) -> None:
    with live.client("auditor") as client:
        _problem(client.get("/v1/audit/decisions?subject=user:a%00b"), 400)
        _problem(client.get("/api/v1/namespaces/a%00b/datasets"), 400)


def test_two_authorization_headers_are_400(live: LiveServer) -> None:
    token = live.keys["service"]
    headers = [("authorization", f"Bearer {token}"), ("authorization", "Bearer gov_x_y")]
    with httpx.Client(base_url=live.url, timeout=30) as client:
        response = client.post("/v1/decide", json=DECISION, headers=headers)
        _problem(response, 400)
        reversed_order = client.post("/v1/decide", json=DECISION, headers=headers[::-1])
        _problem(reversed_order, 400)


def test_one_callers_poison_affects_no_other_caller(live: LiveServer) -> None:
    """Good callers decide concurrently while one sends unstorable strings: every good call is
    answered 200 and recorded, every poisoned one is refused 422."""
    poisons = [
        json.dumps(DECISION).replace('"crm"}', '"crm", "x": "\\udfff"}'),
        json.dumps({**DECISION, "context": {"region": "EU", "x": "\u0000"}}),
    ]
    good: list[int] = []
    bad: list[int] = []
    seen_ids: list[str] = []
    lock = threading.Lock()

    def good_caller() -> None:
        with live.client() as client:
            for _ in range(40):
                response = client.post("/v1/decide", json=DECISION)
                with lock:
                    good.append(response.status_code)
                    if response.status_code == 200:
                        seen_ids.append(response.json()["decision_id"])

    def poisoner() -> None:
        with live.client() as client:
            for i in range(60):
                response = _post_raw(client, "/v1/decide", poisons[i % 2])
                with lock:
                    bad.append(response.status_code)

    threads = [threading.Thread(target=good_caller) for _ in range(6)]
    threads.append(threading.Thread(target=poisoner))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert good == [200] * 240, f"{sum(s != 200 for s in good)} of {len(good)} affected"
    assert set(bad) == {422}
    with live.client("auditor") as auditor:
        assert auditor.get("/v1/audit/verify").json()["ok"] is True


def test_a_lock_held_elsewhere_fails_closed_within_seconds(live: LiveServer) -> None:
    """Another process holds the audit chain's lock: decisions answer 503 (deny) after the
    configured lock timeout (2 s), not after 30 s, and recover once the lock is released."""
    import time

    import sqlalchemy as sa

    with live.client() as client:
        assert client.post("/v1/decide", json=DECISION).status_code == 200  # the head exists
        engine = sa.create_engine(live.database_url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                if live.database_url.startswith("sqlite"):
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                else:
                    conn.exec_driver_sql("BEGIN")
                    conn.exec_driver_sql("SELECT * FROM audit_chain FOR UPDATE")
                started = time.monotonic()
                response = client.post("/v1/decide", json=DECISION)
                waited = time.monotonic() - started
                conn.exec_driver_sql("ROLLBACK")
        finally:
            engine.dispose()
        body = _problem(response, 503)
        assert "deny" in body["detail"]
        assert body.get("incident")
        assert waited < 8, f"waited {waited:.1f} s"
        assert client.post("/v1/decide", json=DECISION).status_code == 200
    assert body["incident"] in live.logs()  # the server log says what failed, by incident id
