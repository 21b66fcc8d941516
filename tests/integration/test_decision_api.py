"""The decision API over real HTTP, against a live uvicorn process and a real database."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import sqlalchemy as sa

from tests.integration.conftest import LiveServer

PROBLEM = "application/problem+json"


def body(**overrides: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "subject": {"id": "user:alice"},
        "action": "read",
        "resource": {"dataset": "crm/customers", "columns": ["email", "full_name", "phone"]},
        "purpose": "analytics",
        "context": {"region": "EU", "channel": "web"},
    }
    out.update(overrides)
    return out


def test_health_needs_no_key(live: LiveServer) -> None:
    r = httpx.get(f"{live.url}/health")
    assert r.status_code == 200
    assert len(r.json()["policy_version"]) == 64


def test_allow_with_obligations(live: LiveServer) -> None:
    with live.client() as c:
        r = c.post("/v1/decide", json=body())
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["decision"] == "allow"
    assert d["reason"].startswith("allowed by policy.csv:")
    assert {o["column"]: o["action"] for o in d["obligations"]} == {
        "email": "hash",
        "full_name": "pseudonymize",
        "phone": "drop",
    }
    assert d["row_filter"] is None
    assert len(d["policy_version"]) == 64
    assert len(d["decision_id"]) == 36


def test_deny_with_reason_and_fail_closed(live: LiveServer) -> None:
    with live.client() as c:
        sold = c.post("/v1/decide", json=body(action="export", purpose="sale_of_data")).json()
        unknown = c.post("/v1/decide", json=body(subject={"id": "user:mallory"})).json()
        no_region = c.post("/v1/decide", json=body(context={"channel": "web"})).json()
    assert sold["decision"] == "deny"
    assert "group:customer_profiles, *, sale_of_data, True, deny" in sold["reason"]
    assert unknown["decision"] == "deny"
    assert "unknown subject user:mallory" in unknown["reason"]
    assert no_region["decision"] == "deny"
    assert "region" in no_region["reason"]
    assert no_region["obligations"] == []


def test_no_key_is_401_and_wrong_role_is_403(live: LiveServer) -> None:
    r = httpx.post(f"{live.url}/v1/decide", json=body())
    assert r.status_code == 401
    assert r.headers["content-type"] == PROBLEM
    assert r.headers["www-authenticate"] == "Bearer"
    bad = httpx.post(
        f"{live.url}/v1/decide", json=body(), headers={"Authorization": "Bearer gov_x_y"}
    )
    assert bad.status_code == 401
    with live.client("auditor") as c:
        r = c.post("/v1/decide", json=body())
    assert r.status_code == 403
    problem = r.json()
    assert problem["status"] == 403
    assert "decisions:decide" in problem["detail"]


def test_bad_bodies(live: LiveServer) -> None:
    with live.client() as c:
        malformed = c.post(
            "/v1/decide", content=b'{"subject": ', headers={"content-type": "application/json"}
        )
        wrong_field = c.post("/v1/decide", json=body(subject={"id": "alice"}))
        extra = c.post("/v1/decide", json={**body(), "sneaky": True})
        missing = c.post("/v1/decide", json={"action": "read"})
    assert malformed.status_code == 400
    assert malformed.headers["content-type"] == PROBLEM
    assert wrong_field.status_code == 422
    errors = wrong_field.json()["errors"]
    assert errors[0]["loc"] == "body.subject.id"
    assert "Traceback" not in wrong_field.text
    assert extra.status_code == 422
    assert extra.json()["errors"][0]["loc"] == "body.sneaky"
    assert missing.status_code == 422
    assert {e["loc"] for e in missing.json()["errors"]} >= {
        "body.subject",
        "body.resource",
        "body.purpose",
    }


def test_oversized_bodies_are_413(live: LiveServer) -> None:
    huge = body(context={"region": "EU", "blob": "x" * 2_000_000})
    with live.client() as c:
        declared = c.post("/v1/decide", json=huge)

        def chunks() -> Any:
            data = json.dumps(huge).encode()
            for i in range(0, len(data), 65536):
                yield data[i : i + 65536]

        streamed = c.post(
            "/v1/decide", content=chunks(), headers={"content-type": "application/json"}
        )
    for r in (declared, streamed):
        assert r.status_code == 413, r.text
        assert r.headers["content-type"] == PROBLEM
        assert "larger than" in r.json()["detail"]


def test_unknown_route_is_problem_json(live: LiveServer) -> None:
    with live.client() as c:
        r = c.get("/v1/nope")
    assert r.status_code == 404
    assert r.headers["content-type"] == PROBLEM


def test_batch_answers_in_order(live: LiveServer) -> None:
    requests = [
        body(),
        body(subject={"id": "user:mallory"}),
        body(action="export", purpose="sale_of_data"),
        body(
            subject={"id": "user:carol"},
            purpose="customer_support",
            context={"region": "EU", "channel": "crm"},
        ),
    ]
    with live.client() as c:
        r = c.post("/v1/decide/batch", json={"requests": requests})
        too_many = c.post("/v1/decide/batch", json={"requests": [body()] * 1001})
        empty = c.post("/v1/decide/batch", json={"requests": []})
    assert r.status_code == 200, r.text
    answers = r.json()["decisions"]
    assert [a["decision"] for a in answers] == ["allow", "deny", "deny", "allow"]
    assert answers[3]["row_filter"] == [{"column": "region", "op": "eq", "value": "EU"}]
    assert len({a["decision_id"] for a in answers}) == 4
    assert too_many.status_code == 422
    assert "at most 1000" in too_many.json()["detail"]
    assert empty.status_code == 422


def test_decisions_land_in_the_audit_trail(live: LiveServer) -> None:
    with live.client() as c:
        decided = c.post(
            "/v1/decide", json=body(subject={"id": "user:erin"}, purpose="compliance_audit")
        ).json()
    with live.client("auditor") as a:
        page = a.get("/v1/audit/decisions", params={"subject": "user:erin"}).json()
        verify = a.get("/v1/audit/verify").json()
        denied = a.get("/v1/audit/decisions", params={"decision": "deny", "limit": 2}).json()
    ids = [item["decision_id"] for item in page["items"]]
    assert decided["decision_id"] in ids
    record = next(i for i in page["items"] if i["decision_id"] == decided["decision_id"])
    assert record["decision"] == decided["decision"]
    assert record["policy_version"] == decided["policy_version"]
    assert record["payload"]["request"]["purpose"] == "compliance_audit"
    assert verify["ok"] is True
    assert verify["checked"] >= 1
    assert all(i["decision"] == "deny" for i in denied["items"])
    assert len(denied["items"]) <= 2


def test_audit_paging(live: LiveServer) -> None:
    with live.client() as c:
        c.post("/v1/decide/batch", json={"requests": [body(subject={"id": "user:grace"})] * 5})
    with live.client("auditor") as a:
        first = a.get("/v1/audit/decisions", params={"subject": "user:grace", "limit": 3}).json()
        second = a.get(
            "/v1/audit/decisions",
            params={"subject": "user:grace", "limit": 3, "after": first["next_after"]},
        ).json()
    seqs = [i["seq"] for i in first["items"]] + [i["seq"] for i in second["items"]]
    assert len(seqs) == len(set(seqs)) >= 5
    assert seqs == sorted(seqs)


def test_allowed_decisions_are_queued_as_lineage_events(live: LiveServer) -> None:
    with live.client() as c:
        allowed = c.post(
            "/v1/decide",
            json=body(
                subject={"id": "service:churn-pipeline"},
                purpose="model_training",
                resource={"dataset": "webshop/clickstream", "columns": ["ip_address"]},
            ),
        ).json()
    assert allowed["decision"] == "allow"
    engine = sa.create_engine(live.database_url)
    try:
        with engine.connect() as conn:
            payloads = [
                json.loads(r[0])
                for r in conn.execute(sa.text("SELECT payload FROM lineage_outbox"))
            ]
    finally:
        engine.dispose()
    event = next(p for p in payloads if p["run"]["runId"] == allowed["decision_id"])
    assert event["eventType"] == "COMPLETE"
    assert event["job"] == {
        "namespace": "governance.access",
        "name": "service:churn-pipeline",
        "facets": {},
    }
    assert event["inputs"][0]["namespace"] == "webshop"
    assert event["inputs"][0]["name"] == "clickstream"
    facet = event["inputs"][0]["facets"]["governance_obligations"]
    assert facet["columns"] == [{"column": "ip_address", "piiType": "IP_ADDRESS", "action": "mask"}]


def test_policy_status_and_hot_reload(live: LiveServer) -> None:
    with live.client("steward") as s, live.client() as c:
        before = s.get("/v1/policy/status").json()
        assert before["fast_path"] is True
        assert before["rules"] >= 30
        # a valid edit: analysts now see e-mails dropped; the steward's test cases say so too
        # (an edit their tests contradict is rejected, like a syntax error)
        tests = live.policy_dir / "tests" / "marketing.yaml"
        tests_original = tests.read_text()
        tests.write_text(tests_original.replace("email: hash", "email: drop"))
        path = live.policy_dir / "obligations.yaml"
        original = path.read_text()
        path.write_text(
            original.replace("      EMAIL_ADDRESS: hash\n", "      EMAIL_ADDRESS: drop\n", 1)
        )
        deadline = time.monotonic() + 15
        while s.get("/v1/policy/status").json()["version"] == before["version"]:
            assert time.monotonic() < deadline, "the edit was not picked up"
            time.sleep(0.1)
        after = s.get("/v1/policy/status").json()
        d = c.post("/v1/decide", json=body()).json()
        assert d["policy_version"] == after["version"]
        assert {o["column"]: o["action"] for o in d["obligations"]}["email"] == "drop"
        # an invalid edit is rejected; the previous version keeps serving
        csv = live.policy_dir / "policy.csv"
        csv_original = csv.read_text()
        csv.write_text(
            csv_original + "p, role:ghost, crm/customers, read, analytics, True, allow\n"
        )
        deadline = time.monotonic() + 15
        while s.get("/v1/policy/status").json()["last_rejection"] is None:
            assert time.monotonic() < deadline, "the rejection was not reported"
            time.sleep(0.1)
        status = s.get("/v1/policy/status").json()
        assert status["version"] == after["version"]
        assert any("role:ghost" in e for e in status["last_rejection"]["errors"])
        assert c.post("/v1/decide", json=body()).json()["policy_version"] == after["version"]
        # restore, and force a reload through the API
        csv.write_text(csv_original)
        path.write_text(original)
        tests.write_text(tests_original)
        reloaded = s.post("/v1/policy/reload").json()
        assert reloaded["accepted"] is True
        assert reloaded["version"] == before["version"]
        # the files are whole again: the rejected edit is no longer reported
        assert s.get("/v1/policy/status").json()["last_rejection"] is None
        assert c.get("/v1/policy/status").status_code == 403  # services may not read it


def test_fast_lane_answers_as_the_routes_do(live: LiveServer) -> None:
    """``governance.api.fastlane`` takes the common call; a ``Sec-GPC`` header (here ``0``,
    which changes nothing) sends it through the routes. Both must answer the same bytes."""
    batch = {"requests": [body(), body(action="export", purpose="sale_of_data"), body()]}
    with live.client() as c:
        answers = {}
        for lane, headers in (("lane", {}), ("routes", {"Sec-GPC": "0"})):
            single = c.post("/v1/decide", json=body(), headers=headers)
            many = c.post("/v1/decide/batch", json=batch, headers=headers)
            assert single.status_code == many.status_code == 200
            assert single.headers["content-type"] == many.headers["content-type"]
            answers[lane] = [
                json.dumps({**d, "decision_id": "-"})
                for d in [single.json(), *many.json()["decisions"]]
            ]
            assert single.content == json.dumps(single.json(), separators=(",", ":")).encode()
        invalid = c.post("/v1/decide", json=body(subject={"id": "alice"}))
    assert answers["lane"] == answers["routes"]
    assert invalid.status_code == 422  # refused by the routes, the same as without the lane
    assert invalid.json()["errors"][0]["loc"] == "body.subject.id"
