"""The PII API over real HTTP: Presidio-shaped analyze and anonymize, audited reidentification."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from governance.pii.keyring import KeyRing
from tests.integration.conftest import LiveServer, make_database, start_server, stop_server

TEXT = (
    "Hi, this is Maria Gonzalez. Reach me at maria.gonzalez@example.org or +1 212-555-0187; "
    "my card is 4111 1111 1111 1111."
)


@pytest.fixture(scope="module")
def pii_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("pii-live")
    url, cleanup = make_database("sqlite", tmp)
    server = start_server(
        tmp,
        url,
        extra_env={"GOVERNANCE_PII__PRELOAD": "true", "GOVERNANCE_PII__MAX_TEXT_BYTES": "5000"},
    )
    try:
        yield server
    finally:
        stop_server(server)
        cleanup()  # type: ignore[operator]


def span(text: str, part: str) -> tuple[int, int]:
    start = text.index(part)
    return start, start + len(part)


def test_analyze_finds_what_a_person_sees(pii_live: LiveServer) -> None:
    with pii_live.client() as c:
        r = c.post("/v1/pii/analyze", json={"text": TEXT, "language": "en"})
    assert r.status_code == 200, r.text
    found = {(f["entity_type"], f["start"], f["end"]) for f in r.json()}
    for entity, part in [
        ("PERSON", "Maria Gonzalez"),
        ("EMAIL_ADDRESS", "maria.gonzalez@example.org"),
        ("PHONE_NUMBER", "+1 212-555-0187"),
        ("CREDIT_CARD", "4111 1111 1111 1111"),
    ]:
        assert (entity, *span(TEXT, part)) in found, (entity, r.json())
    for f in r.json():  # Presidio's shape
        assert set(f) >= {"entity_type", "start", "end", "score"}
        assert 0 <= f["score"] <= 1
    # no two findings overlap (an email is not also a URL)
    spans = sorted((f["start"], f["end"]) for f in r.json())
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))


def test_analyze_filters_entities_and_threshold(pii_live: LiveServer) -> None:
    with pii_live.client() as c:
        only = c.post("/v1/pii/analyze", json={"text": TEXT, "entities": ["EMAIL_ADDRESS"]})
        strict = c.post("/v1/pii/analyze", json={"text": TEXT, "score_threshold": 0.99})
    assert {f["entity_type"] for f in only.json()} == {"EMAIL_ADDRESS"}
    assert all(f["score"] >= 0.99 for f in strict.json())
    assert {f["entity_type"] for f in strict.json()} >= {"EMAIL_ADDRESS", "CREDIT_CARD"}


def test_custom_recognizers_and_allow_list(pii_live: LiveServer) -> None:
    text = (
        "Loyalty card OMC-4929-804-468 and order ORD-123456789X for CU00012345; "
        "write to support@omnishop.example. Not an order: ORD-1234567890."
    )
    with pii_live.client() as c:
        r = c.post("/v1/pii/analyze", json={"text": text})
    found = {(f["entity_type"], text[f["start"] : f["end"]]) for f in r.json()}
    assert ("LOYALTY_CARD", "OMC-4929-804-468") in found  # passes Luhn
    assert ("ORDER_NUMBER", "ORD-123456789X") in found  # passes mod 11
    assert ("CUSTOMER_ID", "CU00012345") in found
    assert not any(t == "ORD-1234567890" and e == "ORDER_NUMBER" for e, t in found)  # bad check
    assert not any("support@omnishop.example" in t for _, t in found)  # allow list


@pytest.mark.parametrize(
    ("body", "status", "path"),
    [
        ({}, 422, "body.text"),
        ({"text": 5}, 422, "body.text"),
        ({"text": "x", "score_threshold": 2}, 422, "body.score_threshold"),
        ({"text": "x", "language": "de"}, 422, "body.language"),
        ({"text": "x", "entities": ["NOT_A_TYPE"]}, 422, "body.entities"),
        ({"text": "x" * 6000}, 413, None),
    ],
)
def test_analyze_bad_input(
    pii_live: LiveServer, body: dict[str, object], status: int, path: str | None
) -> None:
    with pii_live.client() as c:
        r = c.post("/v1/pii/analyze", json=body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert "Traceback" not in r.text
    if path:
        assert path in json.dumps(r.json())


def test_only_permitted_callers(pii_live: LiveServer) -> None:
    with pii_live.client(None) as anon, pii_live.client("auditor") as auditor:
        assert anon.post("/v1/pii/analyze", json={"text": "x"}).status_code == 401
        assert auditor.post("/v1/pii/analyze", json={"text": "x"}).status_code == 403


def analyzed(c: object, text: str) -> list[dict[str, object]]:
    r = c.post("/v1/pii/analyze", json={"text": text})  # type: ignore[attr-defined]
    assert r.status_code == 200
    return r.json()  # type: ignore[no-any-return]


def test_anonymize_default_replaces_with_the_type(pii_live: LiveServer) -> None:
    with pii_live.client() as c:
        results = analyzed(c, TEXT)
        r = c.post("/v1/pii/anonymize", json={"text": TEXT, "analyzer_results": results})
    assert r.status_code == 200, r.text
    out = r.json()
    assert "<EMAIL_ADDRESS>" in out["text"]
    assert "<CREDIT_CARD>" in out["text"]
    assert "maria.gonzalez@example.org" not in out["text"]
    assert {i["operator"] for i in out["items"]} == {"replace"}


def test_anonymize_with_keyed_operators(pii_live: LiveServer) -> None:
    email = "maria.gonzalez@example.org"
    text = f"contact: {email}"
    start, end = span(text, email)
    body = {
        "text": text,
        "analyzer_results": [
            {"entity_type": "EMAIL_ADDRESS", "start": start, "end": end, "score": 1}
        ],
        "anonymizers": {"EMAIL_ADDRESS": {"type": "hash"}},
    }
    with pii_live.client() as c:
        hashed = c.post("/v1/pii/anonymize", json=body)
        body["anonymizers"] = {
            "DEFAULT": {"type": "mask", "masking_char": "#", "chars_to_mask": 5, "from_end": False}
        }
        masked = c.post("/v1/pii/anonymize", json=body)
        body["anonymizers"] = {"EMAIL_ADDRESS": {"type": "mask_format"}}
        formatted = c.post("/v1/pii/anonymize", json=body)
    # the hash is HMAC-SHA256 under the key ring's hash subkey: recompute it independently
    ring = KeyRing.load(Path(pii_live.env["GOVERNANCE_PII__KEY_FILE"]))
    expected = hmac.new(
        ring.subkey(ring.active_id, "hash"), email.encode(), hashlib.sha256
    ).hexdigest()
    assert hashed.json()["text"] == f"contact: {expected}"
    assert hashed.json()["items"][0]["operator"] == "hash"
    assert masked.json()["text"] == "contact: #####.gonzalez@example.org"
    assert formatted.json()["text"] == "contact: m***@example.org"


@pytest.mark.parametrize(
    ("anonymizers", "results", "fragment"),
    [
        ({"EMAIL_ADDRESS": {"type": "encrypt", "key": "0123456789abcdef"}}, None, "key ring"),
        ({"EMAIL_ADDRESS": {"type": "shred"}}, None, "unknown anonymizer"),
        ({"EMAIL_ADDRESS": {"type": "mask"}}, None, "anonymizers"),  # Presidio: params missing
        ({}, [{"entity_type": "X", "start": 5, "end": 999, "score": 1}], "outside the text"),
    ],
)
def test_anonymize_bad_input(
    pii_live: LiveServer, anonymizers: dict[str, object], results: object, fragment: str
) -> None:
    text = "contact: maria@example.org"
    body = {
        "text": text,
        "analyzer_results": results
        or [{"entity_type": "EMAIL_ADDRESS", "start": 9, "end": 26, "score": 1}],
        "anonymizers": anonymizers,
    }
    with pii_live.client() as c:
        r = c.post("/v1/pii/anonymize", json=body)
    assert r.status_code == 422, r.text
    assert fragment in r.text
    assert "0123456789abcdef" not in r.text  # a key sent by mistake is not echoed


def encrypt(c: object, value: str, dataset: str = "crm/customers", column: str = "iban") -> str:
    body = {
        "text": value,
        "analyzer_results": [
            {"entity_type": "CREDIT_CARD", "start": 0, "end": len(value), "score": 1}
        ],
        "anonymizers": {"DEFAULT": {"type": "encrypt"}},
        "dataset": dataset,
        "column": column,
    }
    r = c.post("/v1/pii/anonymize", json=body)  # type: ignore[attr-defined]
    assert r.status_code == 200, r.text
    token: str = r.json()["text"]
    assert token.startswith("encb_")
    return token


def reidentify_body(
    subject: str,
    tokens: list[str],
    dataset: str = "crm/customers",
    column: str | None = "iban",
) -> dict[str, object]:
    return {
        "subject": {"id": subject},
        "resource": {"dataset": dataset},
        "purpose": "customer_support",
        "context": {"region": "EU"},
        "column": column,
        "tokens": tokens,
    }


def test_reidentify_is_a_decision_and_is_audited(pii_live: LiveServer) -> None:
    card = "4929 1234 5678 9012"
    with pii_live.client() as c, pii_live.client("auditor") as auditor:
        token = encrypt(c, card)
        allowed = c.post("/v1/pii/reidentify", json=reidentify_body("user:dave", [token]))
        denied = c.post("/v1/pii/reidentify", json=reidentify_body("user:carol", [token]))
        trail = auditor.get("/v1/audit/decisions", params={"limit": 1000}).json()["items"]
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["values"] == [{"token": token, "column": "iban", "value": card}]
    assert denied.status_code == 403
    assert denied.headers["content-type"] == "application/problem+json"
    assert card not in denied.text
    reversals = [i for i in trail if i["action"] == "reidentify"]
    by_subject = {i["subject"]: i for i in reversals}
    assert by_subject["user:dave"]["decision"] == "allow"
    assert by_subject["user:dave"]["decision_id"] == allowed.json()["decision_id"]
    assert by_subject["user:carol"]["decision"] == "deny"
    assert by_subject["user:carol"]["decision_id"] in denied.json()["detail"]
    for item in reversals:  # the tokens are on record, the value never
        assert item["payload"]["request"]["context"]["reidentify"]["tokens"] == [token]
        assert card not in json.dumps(item)


def test_reidentify_refuses_altered_tokens_and_reveals_nothing(pii_live: LiveServer) -> None:
    with pii_live.client() as c:
        good = encrypt(c, "4929 0000 0000 0006")
        bad = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
        r = c.post("/v1/pii/reidentify", json=reidentify_body("user:dave", [good, bad]))
        empty = c.post("/v1/pii/reidentify", json=reidentify_body("user:dave", []))
    assert r.status_code == 422, r.text
    assert "body.tokens[1]" in r.text
    assert "4929 0000 0000 0006" not in r.text
    assert empty.status_code == 422
    assert "body.tokens" in empty.text


def decide_columns(c: object, columns: list[str]) -> dict[str, str]:
    r = c.post(  # type: ignore[attr-defined]
        "/v1/decide",
        json={
            "subject": {"id": "user:alice"},
            "action": "read",
            "resource": {"dataset": "crm/customers", "columns": columns},
            "purpose": "analytics",
            "context": {"region": "EU", "channel": "crm"},
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["decision"] == "allow", r.json()
    return {o["column"]: f"{o['pii_type']}:{o['action']}" for o in r.json()["obligations"]}


def test_a_steward_review_changes_decisions_and_reaches_lineage(pii_live: LiveServer) -> None:
    with (
        pii_live.client() as service,
        pii_live.client("steward") as steward,
        pii_live.client("auditor") as auditor,
    ):
        assert decide_columns(service, ["nickname"]) == {"nickname": "UNKNOWN:mask"}
        bad = steward.post(
            "/v1/pii/classifications/review",
            json={
                "dataset": "crm/customers",
                "column": "nickname",
                "pii_type": "NOPE",
                "status": "confirmed",
            },
        )
        assert bad.status_code == 422
        assert (
            service.post(  # a service key may not review
                "/v1/pii/classifications/review",
                json={
                    "dataset": "crm/customers",
                    "column": "nickname",
                    "pii_type": "PERSON",
                    "status": "confirmed",
                },
            ).status_code
            == 403
        )
        r = steward.post(
            "/v1/pii/classifications/review",
            json={
                "dataset": "crm/customers",
                "column": "nickname",
                "pii_type": "PERSON",
                "status": "confirmed",
            },
        )
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "confirmed"
        assert r.json()["source"] == "steward"
        # obligations.yaml: marketing analytics pseudonymizes PERSON
        assert decide_columns(service, ["nickname"]) == {"nickname": "PERSON:pseudonymize"}
        listed = auditor.get("/v1/pii/classifications", params={"dataset": "crm/customers"})
        assert [(c["column"], c["pii_type"], c["status"]) for c in listed.json()] == [
            ("nickname", "PERSON", "confirmed")
        ]
        # the classification reaches the lineage graph through the outbox
        deadline = time.monotonic() + 30
        found: list[dict[str, object]] = []
        while time.monotonic() < deadline and not found:
            got = auditor.get(
                "/v1/lineage/classifications",
                params={"nodeId": "datasetField:crm:customers:nickname"},
            )
            if got.status_code == 200:
                found = [c for c in got.json()["classifications"] if c["piiType"] == "PERSON"]
            time.sleep(0.2)
        assert found, got.text
        assert found[0]["source"] == "steward"


def test_encrypt_needs_a_dataset_to_bind_to(pii_live: LiveServer) -> None:
    body = {
        "text": "4929 1234 5678 9012",
        "analyzer_results": [{"entity_type": "CREDIT_CARD", "start": 0, "end": 19, "score": 1}],
        "anonymizers": {"DEFAULT": {"type": "encrypt"}},
    }
    with pii_live.client() as c:
        r = c.post("/v1/pii/anonymize", json=body)
    assert r.status_code == 422
    assert "body.dataset" in r.text


def test_a_token_lifted_from_another_dataset_does_not_open(pii_live: LiveServer) -> None:
    """dave may reidentify customer profiles; a token made for payments does not open there."""
    card = "4929 5555 6666 7777"
    with pii_live.client() as c:
        from_payments = encrypt(c, card, dataset="webshop/payments", column="card_number")
        lifted = c.post(
            "/v1/pii/reidentify",
            json=reidentify_body("user:dave", [from_payments], column="card_number"),
        )
        other_column = c.post(
            "/v1/pii/reidentify",
            json=reidentify_body("user:dave", [encrypt(c, card, column="iban")], column="ssn"),
        )
        own = c.post(
            "/v1/pii/reidentify",
            json=reidentify_body("user:dave", [encrypt(c, card, column="iban")], column="iban"),
        )
    for refused in (lifted, other_column):
        assert refused.status_code == 422, refused.text
        assert "another dataset or column" in refused.text
        assert card not in refused.text
    assert own.status_code == 200, own.text
    assert own.json()["values"][0]["value"] == card


def test_a_service_key_may_only_act_for_its_principals(pii_live: LiveServer) -> None:
    """A key bound to service:churn-pipeline cannot claim to be user:dave (who may reidentify),
    neither to reverse a token nor to ask for a decision."""
    from governance.callers import ApiKeys
    from governance.db import create_database

    db = create_database(pii_live.database_url)
    try:
        _, token = ApiKeys(db).create("churn-only", "service", "service:churn-pipeline")
    finally:
        db.dispose()
    card = "4929 1111 2222 3333"
    with pii_live.client() as c:
        sealed = encrypt(c, card)
    with httpx.Client(
        base_url=pii_live.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as churn:
        claimed = churn.post("/v1/pii/reidentify", json=reidentify_body("user:dave", [sealed]))
        decision = churn.post(
            "/v1/decide",
            json={
                "subject": {"id": "user:dave"},
                "action": "read",
                "resource": {"dataset": "crm/customers"},
                "purpose": "customer_support",
                "context": {"region": "EU", "channel": "crm"},
            },
        )
        batch = churn.post(
            "/v1/decide/batch",
            json={
                "requests": [
                    {
                        "subject": {"id": "service:churn-pipeline"},
                        "action": "read",
                        "resource": {"dataset": "crm/customers"},
                        "purpose": "model_training",
                        "context": {"region": "EU"},
                    },
                    {
                        "subject": {"id": "user:dave"},
                        "action": "read",
                        "resource": {"dataset": "crm/customers"},
                        "purpose": "customer_support",
                        "context": {"region": "EU"},
                    },
                ]
            },
        )
        own = churn.post(
            "/v1/decide",
            json={
                "subject": {"id": "service:churn-pipeline"},
                "action": "read",
                "resource": {"dataset": "crm/customers"},
                "purpose": "model_training",
                "context": {"region": "EU", "channel": "crm"},
            },
        )
    for refused in (claimed, decision, batch):
        assert refused.status_code == 403, refused.text
        assert "user:dave" in refused.json()["detail"]
        assert card not in refused.text
    assert own.status_code == 200
    assert own.json()["decision"] == "allow"
