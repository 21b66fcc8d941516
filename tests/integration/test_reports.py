"""The compliance reports over the demo's retail pipeline, on a live service.

Golden facts, checked by hand against the demo data set (the expected values below are read
from the policy files and the pipeline's own definitions, not from a report):

* the demo's analyst reads ``app/events`` for ``analytics``; purposes.yaml declares analytics
  for crm/customers, webshop/orders, webshop/clickstream, pos/receipts and analytics/* only:
  the record of processing must flag app/events, and nothing for customer_support;
* the churn pipeline derives ml/churn_features from crm/customers.customer_id and .segment,
  webshop/orders.order_id, app/events.event_id and webshop/clickstream.url, and trains
  ml/churn_model on it; the policy hands clickstream URLs to training unmasked (URL: keep for
  model_training): the AI report must reach those source columns and flag the raw URL;
* the CCPA categories of the datasets read must be those categories.yaml gives their columns;
* the request metrics must count the privacy requests the test made, by kind and outcome.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from rich.console import Console

from governance.config import AuditSettings, Environment, PiiSettings, Settings
from governance.demo import retail
from governance.demo.context import DemoContext
from governance.demo.reporting import step_planted_divergence
from governance.demo.rights import step_subject_rights
from governance.demo.steps import step_pipeline
from governance.reports.render import chromium
from tests.conftest import POSTGRES_URL, TEST_AUDIT_KEY, missing_service
from tests.integration.conftest import LiveServer, make_database, start_server, stop_server


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, DemoContext]]:
    if request.param == "postgres" and not POSTGRES_URL:
        missing_service("PostgreSQL", "set GOVERNANCE_TEST_POSTGRES_URL")
    tmp = tmp_path_factory.mktemp(f"reports-{request.param}")
    data = retail.build(f"sqlite:///{tmp / 'retail.db'}", n=40, subject_index=7)
    url, cleanup = make_database(request.param, tmp)
    live = start_server(tmp, url, extra_env={retail.CONNECTION: data.url})
    settings = Settings(
        environment=Environment.test,
        database_url=url,
        policy_dir=live.policy_dir,
        audit=AuditSettings(hmac_key=TEST_AUDIT_KEY, anchor_path=tmp / "audit-checkpoints.jsonl"),
        pii=PiiSettings(key_file=tmp / "pii-keyring.json", preload=False),
    )
    ctx = DemoContext(
        Console(file=io.StringIO(), width=200),
        live.url,
        live.keys,
        settings,
        retail_url=data.url,
        started=datetime.now(UTC),
        out_dir=tmp / "out",
        notes={"subject": data.sample},
    )
    try:
        for step in (step_pipeline, step_planted_divergence, step_subject_rights):
            step(ctx)
        yield live, ctx
    finally:
        stop_server(live)
        cleanup()  # type: ignore[operator]


def _report(live: LiveServer, kind: str, **params: str) -> dict[str, Any]:
    with live.client("auditor") as auditor:
        response = auditor.get(f"/v1/reports/{kind}", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _policy(live: LiveServer, name: str) -> Any:
    return yaml.safe_load((live.policy_dir / name).read_text())


def test_the_record_of_processing_lists_the_planted_divergence(world: Any) -> None:
    live, _ = world
    envelope = _report(live, "ropa")
    ropa = envelope["content"]
    declared = _policy(live, "purposes.yaml")["purposes"]["analytics"]["datasets"]
    assert "app/events" not in declared  # the premise, read from the file
    planted = [
        d
        for d in ropa["divergences"]
        if d["kind"] == "undeclared_dataset" and d["purpose"] == "analytics"
    ]
    assert len(planted) == 1
    assert planted[0]["datasets"] == ["app/events"]
    activities = {a["purpose"]: a for a in ropa["activities"]}
    assert activities["customer_support"]["divergences"] == []
    assert activities["analytics"]["lawful_basis"] == "legitimate_interests"
    used = {d["dataset"]: d for d in activities["analytics"]["datasets_used"]}
    assert used["app/events"]["declared"] is False
    assert ropa["controller"]["name"] == _policy(live, "controller.yaml")["name"]


def test_the_ai_report_reaches_the_source_columns_and_flags_raw_pii(world: Any) -> None:
    live, _ = world
    ai = _report(live, "ai", model="ml/churn_model")["content"]
    for column in (
        "crm/customers.customer_id",
        "crm/customers.segment",
        "webshop/orders.order_id",
        "app/events.event_id",
        "webshop/clickstream.url",
    ):
        assert column in ai["source_columns"], column
    flags = {f["flag"]: f["detail"] for f in ai["dpia_flags"]}
    assert "webshop/clickstream.url" in flags["raw_pii_in_training"]
    treatment = {(c["dataset"], c["column"]): c["treatment"] for c in ai["columns"]}
    assert treatment[("webshop/clickstream", "url")] == "raw"
    assert treatment[("crm/customers", "customer_id")] == "pseudonymized"
    assert treatment[("crm/customers", "email")] == "not used"
    assert ai["trained_at"] is not None
    # the demo erased a customer after training: retraining is needed
    assert ai["consent"]["retraining_needed"] is True
    jobs = {n["id"] for n in ai["lineage_nodes"] if n["kind"] == "job"}
    assert jobs == {"job:ml/churn.build_features", "job:ml/churn.train"}


def test_ccpa_categories_match_the_catalog(world: Any) -> None:
    live, _ = world
    ccpa = _report(live, "ccpa")["content"]
    catalog = _policy(live, "catalog.yaml")["datasets"]
    mapping = _policy(live, "categories.yaml")["pii_types"]
    collected = {c["category"]: set(c["pii_types"]) for c in ccpa["collected"]}
    for dataset in ("crm/customers", "webshop/orders", "webshop/clickstream", "app/events"):
        for column, pii_type in catalog[dataset]["columns"].items():
            if pii_type in ("NONE", "FREE_TEXT") and pii_type not in mapping:
                continue
            category = mapping[pii_type]["ccpa"]
            assert pii_type in collected[category], (dataset, column, pii_type)
    assert ccpa["sold"] == []  # the only sale decision carried Global Privacy Control
    shared = {c["category"] for c in ccpa["shared"]}
    assert shared <= {mapping[t]["ccpa"] for t in ("CUSTOMER_ID", "EMAIL_ADDRESS")}


def test_request_metrics_match_the_requests_made(world: Any) -> None:
    live, _ = world
    with live.client("steward") as steward:
        for kind, outcome in (
            ("rectification", "denied"),
            ("opt_out", "completed"),
            ("access", None),
        ):
            opened = steward.post(
                "/v1/privacy-requests",
                json={
                    "kind": kind,
                    "subject": {"customer_id": "CU10000003"},
                    "jurisdiction": "ccpa",
                },
            ).json()
            if outcome == "denied":
                steward.post(
                    f"/v1/privacy-requests/{opened['id']}/status",
                    json={"status": "denied", "reason": "could not verify the requester"},
                )
            elif outcome == "completed":
                steward.post(
                    f"/v1/privacy-requests/{opened['id']}/status", json={"status": "verified"}
                )
                steward.post(f"/v1/privacy-requests/{opened['id']}/opt-out")
        everything = steward.get("/v1/privacy-requests", params={"limit": 1000}).json()
    metrics = {m["request"]: m for m in _report(live, "ccpa")["content"]["requests"]}
    names = {
        "access": "know",
        "erasure": "delete",
        "rectification": "correct",
        "opt_out": "opt_out",
    }
    for kind, name in names.items():
        mine = [r for r in everything if r["kind"] == kind]
        assert metrics[name]["received"] == len(mine), name
        assert metrics[name]["complied"] == sum(r["status"] == "completed" for r in mine), name
        assert metrics[name]["denied"] == sum(r["status"] == "denied" for r in mine), name
    assert metrics["correct"]["denied"] == 1
    assert metrics["opt_out"]["complied"] >= 1


def _cut_tail(url: str, chain: str, keep: int) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("DELETE FROM decision_log WHERE chain = :c AND chain_seq > :k"),
            {"c": chain, "k": keep},
        )
        conn.execute(
            sa.text(
                "UPDATE audit_chain SET head_seq = :k, head_hash = (SELECT hash FROM "
                "decision_log WHERE chain = :c AND chain_seq = :k) WHERE chain = :c"
            ),
            {"c": chain, "k": keep},
        )
    engine.dispose()


def test_signed_reports_verify_and_tampering_fails(world: Any) -> None:
    live, _ = world
    with live.client("auditor") as auditor:
        good = auditor.get("/v1/reports/decisions", params={"dataset": "crm/customers"}).content
        page = auditor.get("/v1/reports/ropa", params={"format": "html"}).content
        assert auditor.post("/v1/reports/verify", content=good).json()["ok"] is True
        assert auditor.post("/v1/reports/verify", content=page).json()["ok"] is True
        position = good.index(b'"deny"') if b'"deny"' in good else len(good) // 2
        flipped = good[:position] + bytes([good[position] ^ 1]) + good[position + 1 :]
        assert auditor.post("/v1/reports/verify", content=flipped).json()["ok"] is False
        spaced = good.replace(b'","', b'", "', 1)  # one byte of whitespace
        assert auditor.post("/v1/reports/verify", content=spaced).json()["ok"] is False
        edited_page = page.replace(b"Omnishop Retail Ltd", b"Omnishop Retail Plc", 1)
        check = auditor.post("/v1/reports/verify", content=edited_page).json()
        assert check["ok"] is False
        assert check["signature_ok"] is True  # the embedded data is intact: the page was edited
        keys = auditor.get("/v1/reports/keys").json()
        envelope = json.loads(good)
        assert envelope["signature"]["kid"] in [k["kid"] for k in keys["keys"]]
        trail = auditor.get("/v1/audit/decisions", params={"kind": "report", "limit": 1000})
        made = [i for i in trail.json()["items"] if i["action"] == "report:decisions"]
        assert made
        assert made[-1]["caller"].startswith("auditor-")


@pytest.mark.parametrize(
    ("kind", "params", "status"),
    [
        ("ai", {"model": "ml/no_such_model"}, 404),
        ("ai", {"model": "not a name"}, 422),
        ("ai", {}, 422),
        ("ropa", {"since": "2026-12-01T00:00:00Z", "until": "2026-11-01T00:00:00Z"}, 422),
        ("ropa", {"format": "docx"}, 422),
        ("dsar", {"request_id": "00000000-0000-0000-0000-000000000000"}, 404),
        ("nonsense", {}, 404),  # each kind is its own operation; no such path
        ("ropa", {"until": "0.5"}, 422),  # a number is not a time
    ],
)
def test_bad_report_requests_are_clear_4xx(
    world: Any, kind: str, params: dict[str, str], status: int
) -> None:
    live, _ = world
    with live.client("auditor") as auditor:
        response = auditor.get(f"/v1/reports/{kind}", params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


def test_reports_are_for_auditors(world: Any) -> None:
    live, _ = world
    for role in ("service", "steward"):
        with live.client(role) as client:
            assert client.get("/v1/reports/ropa").status_code == 403


@pytest.mark.skipif(chromium() is None, reason="Chromium is not installed")
def test_every_html_report_renders_in_chromium(world: Any, tmp_path: Path) -> None:
    from PIL import Image
    from playwright.sync_api import sync_playwright

    live, ctx = world
    kinds: list[tuple[str, dict[str, str]]] = [
        ("ropa", {}),
        ("ccpa", {}),
        ("ai", {"model": "ml/churn_model"}),
        ("dsar", {"request_id": ctx.notes["access_request"]}),
        ("erasure", {"request_id": ctx.notes["erasure_request"]}),
        ("decisions", {"dataset": "crm/customers"}),
    ]
    shots = Path("var/test-screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium(),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            for kind, params in kinds:
                html = _html(live, kind, params)
                path = tmp_path / f"{kind}.html"
                path.write_text(html)
                page = browser.new_page(viewport={"width": 1280, "height": 1600})
                problems: list[str] = []
                page.on(
                    "console",
                    lambda m, bad=problems: bad.append(m.text) if m.type == "error" else None,
                )
                page.on("pageerror", lambda e, bad=problems: bad.append(str(e)))
                page.on(
                    "request",
                    lambda r, bad=problems: (
                        bad.append(r.url) if not r.url.startswith("file:") else None
                    ),
                )
                page.goto(path.as_uri())
                png = shots / f"report-{kind}.png"
                page.screenshot(path=str(png), full_page=True)
                assert problems == [], (kind, problems)  # no console errors, no network
                image = Image.open(png).convert("L")
                lo, hi = image.getextrema()
                assert hi - lo > 100, f"{kind}: the screenshot is blank"
                dark = sum(image.histogram()[:128])
                assert dark > 2000, f"{kind}: almost no text rendered"
                if kind == "ai":
                    box = page.locator("svg.lineage").bounding_box()
                    assert box is not None
                    assert box["width"] > 200
                    assert box["height"] > 100
                    assert page.locator("svg.lineage rect").count() >= 6
                    assert page.locator("svg.lineage path.raw").count() >= 1
                page.close()
        finally:
            browser.close()


def _html(live: LiveServer, kind: str, params: dict[str, str]) -> str:
    with live.client("auditor") as auditor:
        response = auditor.get(
            f"/v1/reports/{kind}", params=params, headers={"Accept": "text/html"}
        )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response.text


@pytest.mark.skipif(chromium() is None, reason="Chromium is not installed")
def test_a_pdf_report_verifies_with_its_signature_file(world: Any, tmp_path: Path) -> None:
    """The CLI prints the PDF with Chromium and signs its bytes in a file beside it."""
    import os
    import subprocess
    import sys

    live, _ = world
    out = tmp_path / "ccpa.pdf"
    env = {**os.environ, **live.env}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "governance.cli", "report", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    made = cli("ccpa", "--format", "pdf", "--out", str(out))
    assert made.returncode == 0, made.stderr
    assert out.read_bytes().startswith(b"%PDF")
    assert (tmp_path / "ccpa.pdf.sig.json").exists()
    verified = cli("verify", str(out))
    assert verified.returncode == 0, verified.stderr
    assert "verified" in verified.stdout
    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 1
    out.write_bytes(bytes(data))
    tampered = cli("verify", str(out))
    assert tampered.returncode == 1
    assert "changed after it was signed" in tampered.stderr


def test_a_report_whose_anchor_was_cut_fails(world: Any, tmp_path: Path) -> None:
    """Last, because it cuts the audit trail: a report made before the cut no longer verifies."""
    live, _ = world
    with live.client("auditor") as auditor:
        report = auditor.get("/v1/reports/decisions", params={"purpose": "marketing"}).content
        anchor = json.loads(report)["anchor"]
        assert auditor.post("/v1/reports/verify", content=report).json()["anchored"] is True
        head = max(anchor["chains"], key=lambda c: c["seq"])
        _cut_tail(live.database_url, head["chain"], max(1, head["seq"] - 5))
        check = auditor.post("/v1/reports/verify", content=report).json()
    assert check["ok"] is False
    assert check["signature_ok"] is True
    assert check["anchored"] is False
    assert "no longer in the trail" in " ".join(check["problems"])
