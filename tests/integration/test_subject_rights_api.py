"""Data subject rights over real HTTP: consents in decisions, privacy requests, access and
erasure against a real retail database, and the clear 4xx answers to bad input."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from governance.demo import retail
from tests.conftest import POSTGRES_URL, missing_service
from tests.integration.conftest import LiveServer, make_database, start_server, stop_server


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def rights(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, retail.RetailData]]:
    if request.param == "postgres" and not POSTGRES_URL:
        missing_service("PostgreSQL", "set GOVERNANCE_TEST_POSTGRES_URL")
    tmp = tmp_path_factory.mktemp(f"rights-{request.param}")
    data = retail.build(f"sqlite:///{tmp / 'retail.db'}", n=30, subject_index=4)
    url, cleanup = make_database(request.param, tmp)
    server = start_server(tmp, url, extra_env={retail.CONNECTION: data.url})
    try:
        yield server, data
    finally:
        stop_server(server)
        cleanup()  # type: ignore[operator]


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


def _marketing(customer: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subject": {"id": "user:alice"},
        "action": "read",
        "resource": {"dataset": "crm/customers", "columns": ["customer_id", "email"]},
        "purpose": "marketing",
        "context": {"region": "EU", "channel": "crm"},
    }
    if customer:
        body["subject_ref"] = {"customer_id": customer}
    return body


def test_consent_changes_the_next_decision(rights: tuple[LiveServer, Any]) -> None:
    live, _ = rights
    with live.client() as service, live.client("auditor") as auditor:
        assert (
            service.post("/v1/decide", json=_marketing("CU10000021")).json()["decision"] == "deny"
        )
        granted = service.post(
            "/v1/consents",
            json={
                "subject": {"customer_id": "CU10000021"},
                "purpose": "marketing",
                "status": "granted",
            },
        )
        assert granted.status_code == 201, granted.text
        allowed = service.post("/v1/decide", json=_marketing("CU10000021")).json()
        assert allowed["decision"] == "allow"
        assert f"consent record {granted.json()[0]['id']}" in allowed["reason"]
        service.post(
            "/v1/consents",
            json={
                "subject": {"customer_id": "CU10000021"},
                "purpose": "marketing",
                "status": "withdrawn",
            },
        )
        denied = service.post("/v1/decide", json=_marketing("CU10000021")).json()
        assert denied["decision"] == "deny"
        assert "withdrawn" in denied["reason"]
        history = auditor.get("/v1/consents", params={"subject": "customer_id:CU10000021"})
        assert history.status_code == 200
        assert [r["status"] for r in history.json()["records"]] == ["granted", "withdrawn"]
        assert history.json()["current"][0]["status"] == "withdrawn"
        trail = auditor.get("/v1/audit/decisions", params={"subject": "user:alice", "limit": 1000})
        last = trail.json()["items"][-1]
        assert last["payload"]["consent_records"]  # the record that decided is on file


def test_the_gpc_header_opts_out_of_sharing(rights: tuple[LiveServer, Any]) -> None:
    live, _ = rights
    with live.client() as service:
        service.post(
            "/v1/consents",
            json={
                "subject": {"customer_id": "CU10000022"},
                "purpose": "marketing",
                "status": "granted",
            },
        )
        assert (
            service.post("/v1/decide", json=_marketing("CU10000022")).json()["decision"] == "allow"
        )
        gpc = service.post("/v1/decide", json=_marketing("CU10000022"), headers={"Sec-GPC": "1"})
        assert gpc.json()["decision"] == "deny"
        assert "Global Privacy Control" in gpc.json()["reason"]
        # recorded: the opt-out holds without the header too
        assert (
            service.post("/v1/decide", json=_marketing("CU10000022")).json()["decision"] == "deny"
        )


def test_a_whole_table_decision_carries_the_consent_filter(rights: tuple[LiveServer, Any]) -> None:
    live, _ = rights
    with live.client() as service:
        answer = service.post("/v1/decide", json=_marketing(None)).json()
    assert answer["decision"] == "allow"
    ops = [c["op"] for c in answer["row_filter"]]
    assert "subject_in" in ops
    assert "subject_not_in" in ops


@pytest.mark.parametrize(
    ("path", "body", "status", "where"),
    [
        (
            "/v1/consents",
            {"subject": {"customer_id": "12"}, "purpose": "marketing", "status": "granted"},
            422,
            "body.subject.customer_id",
        ),
        (
            "/v1/consents",
            {"subject": {"email": "not-an-email"}, "purpose": "marketing", "status": "granted"},
            422,
            "body.subject.email",
        ),
        (
            "/v1/consents",
            {"subject": {"customer_id": "CU10000001"}, "purpose": "astrology", "status": "granted"},
            422,
            "body.purpose",
        ),
        (
            "/v1/consents",
            {"subject": {}, "purpose": "marketing", "status": "granted"},
            422,
            "body.subject",
        ),
        (
            "/v1/privacy-requests",
            {"kind": "access", "subject": {"phone": "call me"}, "jurisdiction": "gdpr"},
            422,
            "body.subject.phone",
        ),
        (
            "/v1/privacy-requests",
            {"kind": "forget", "subject": {"customer_id": "CU10000001"}, "jurisdiction": "gdpr"},
            422,
            "body.kind",
        ),
    ],
)
def test_bad_input_is_a_clear_4xx(
    rights: tuple[LiveServer, Any], path: str, body: dict[str, Any], status: int, where: str
) -> None:
    live, _ = rights
    with live.client("steward") as steward:
        problem = _problem(steward.post(path, json=body), status)
    assert any(e["loc"].startswith(where) for e in problem["errors"]), problem


def test_unknown_subjects_and_requests(rights: tuple[LiveServer, Any]) -> None:
    live, _ = rights
    with live.client("auditor") as auditor:
        _problem(auditor.get("/v1/consents", params={"subject": "customer_id:CU19999999"}), 404)
        _problem(auditor.get("/v1/consents", params={"subject": "nonsense"}), 422)
        _problem(auditor.get("/v1/privacy-requests/00000000-0000-0000-0000-000000000000"), 404)


def _open(steward: httpx.Client, kind: str, **subject: str) -> dict[str, Any]:
    response = steward.post(
        "/v1/privacy-requests", json={"kind": kind, "subject": subject, "jurisdiction": "gdpr"}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_deadlines_overdue_flags_and_transitions(rights: tuple[LiveServer, Any]) -> None:
    live, _ = rights
    with live.client("steward") as steward:
        old = steward.post(
            "/v1/privacy-requests",
            json={
                "kind": "access",
                "subject": {"customer_id": "CU10000002"},
                "jurisdiction": "ccpa",
                "received_at": (datetime.now(UTC) - timedelta(days=50)).isoformat(),
            },
        ).json()
        received = datetime.fromisoformat(old["received_at"].replace("Z", "+00:00"))
        due = datetime.fromisoformat(old["due_at"].replace("Z", "+00:00"))
        assert due - received == timedelta(days=45)  # CCPA
        assert old["overdue"] is True
        overdue = steward.get("/v1/privacy-requests", params={"overdue": "true"}).json()
        assert old["id"] in [r["id"] for r in overdue]
        fresh = _open(steward, "access", customer_id="CU10000003")
        assert fresh["overdue"] is False
        # GDPR: one month
        assert fresh["due_at"][5:7] != fresh["received_at"][5:7]
        # access before the identity is verified is refused; so is a jump to completed
        _problem(steward.post(f"/v1/privacy-requests/{fresh['id']}/access", json={}), 409)
        _problem(
            steward.post(
                f"/v1/privacy-requests/{fresh['id']}/status", json={"status": "completed"}
            ),
            409,
        )
        _problem(
            steward.post(f"/v1/privacy-requests/{fresh['id']}/status", json={"status": "denied"}),
            422,
        )
        denied = steward.post(
            f"/v1/privacy-requests/{fresh['id']}/status",
            json={"status": "denied", "reason": "identity could not be verified"},
        )
        assert denied.json()["status"] == "denied"
    with live.client("auditor") as auditor:
        trail = auditor.get(
            "/v1/audit/decisions", params={"kind": "privacy_request", "limit": 1000}
        ).json()["items"]
        actions = [i["action"] for i in trail if i["subject"] == f"privacy-request:{fresh['id']}"]
        assert actions == ["open", "status:denied"]
        assert auditor.get("/v1/audit/verify").json()["ok"] is True


def test_access_then_erasure_end_to_end(rights: tuple[LiveServer, Any]) -> None:
    live, data = rights
    customer = data.sample["customer_id"]
    with live.client("steward") as steward, live.client("admin") as admin:
        access = _open(steward, "access", customer_id=customer)
        steward.post(f"/v1/privacy-requests/{access['id']}/status", json={"status": "verified"})
        result = steward.post(
            f"/v1/privacy-requests/{access['id']}/access", json={"include_values": True}
        )
        assert result.status_code == 200, result.text
        found = {d["dataset"]: d for d in result.json()["datasets"]}
        assert {"crm/customers", "webshop/orders"} <= set(found)
        emails = next(f for f in found["crm/customers"]["fields"] if f["column"] == "email")
        assert emails["values"] == [data.sample["email"]]
        # an auditor may read the request, never the values
        with live.client("auditor") as auditor:
            stored = auditor.get(f"/v1/privacy-requests/{access['id']}/access").json()
            assert stored["datasets"]
            _problem(auditor.post(f"/v1/privacy-requests/{access['id']}/access", json={}), 403)
        # a dataset with no connection cannot be searched
        no_source = steward.post(
            f"/v1/privacy-requests/{access['id']}/access",
            json={"datasets": ["pos/receipts"]},
        )
        assert "declares no source" in _problem(no_source, 422)["detail"]

        erasure = _open(steward, "erasure", customer_id=customer)
        steward.post(f"/v1/privacy-requests/{erasure['id']}/status", json={"status": "verified"})
        execute = {"plan_digest": "0" * 64, "principal": "user:frank", "context": {"region": "EU"}}
        # no plan shown yet: nothing is erased
        _problem(
            admin.post(f"/v1/privacy-requests/{erasure['id']}/erasure/execute", json=execute), 409
        )
        plan = steward.post(f"/v1/privacy-requests/{erasure['id']}/erasure/plan").json()
        steps = {s["dataset"]: s for s in plan["steps"]}
        assert steps["webshop/orders"]["action"] == "pseudonymize"  # legal hold
        assert steps["crm/customers"]["action"] == "delete"
        # a digest other than the plan shown is refused; stewards may not execute
        _problem(
            admin.post(f"/v1/privacy-requests/{erasure['id']}/erasure/execute", json=execute), 409
        )
        execute["plan_digest"] = plan["digest"]
        _problem(
            steward.post(f"/v1/privacy-requests/{erasure['id']}/erasure/execute", json=execute), 403
        )
        done = admin.post(f"/v1/privacy-requests/{erasure['id']}/erasure/execute", json=execute)
        assert done.status_code == 200, done.text
        receipts = done.json()["receipts"]
        assert {r["status"] for r in receipts} == {"done"}
        assert sum(r["rows_erased"] for r in receipts) == sum(s["rows"] for s in plan["steps"])
        assert done.json()["request"]["status"] == "completed"
        again = admin.post(f"/v1/privacy-requests/{erasure['id']}/erasure/execute", json=execute)
        assert again.json()["receipts"] == receipts  # a second run changes nothing
        # nothing of the subject is left to find
        check = _open(steward, "access", customer_id=customer)
        steward.post(f"/v1/privacy-requests/{check['id']}/status", json={"status": "verified"})
        after = steward.post(f"/v1/privacy-requests/{check['id']}/access", json={}).json()
        assert after["datasets"] == []
    with live.client("auditor") as auditor:
        trail = auditor.get(
            "/v1/audit/decisions", params={"purpose": "data_subject_request", "limit": 1000}
        ).json()["items"]
        deletions = [i for i in trail if i["action"] == "delete" and i["subject"] == "user:frank"]
        assert {i["dataset"] for i in deletions} == set(steps)
        assert all(i["decision"] == "allow" for i in deletions)
