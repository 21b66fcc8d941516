"""The enforcement points in ``adapters`` against a live service over real HTTP."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pandas as pd
import pytest

from adapters.client import GovernanceClient
from adapters.llm import PromptGuard
from adapters.openlineage import Dataset, LineageEmitter
from adapters.tables import governed_frame
from governance.errors import AccessDenied
from governance.pii.keyring import KeyRing
from governance.pii.operators import Protector
from tests.integration.conftest import LiveServer, make_database, start_server, stop_server
from tests.integration.test_lineage_api import FAST_DRAIN, wait_drained


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("adapters-live")
    url, cleanup = make_database("sqlite", tmp)
    server = start_server(tmp, url, extra_env={**FAST_DRAIN, "GOVERNANCE_PII__PRELOAD": "true"})
    try:
        yield server
    finally:
        stop_server(server)
        cleanup()  # type: ignore[operator]


@pytest.fixture(scope="module")
def protector() -> Protector:
    return Protector(KeyRing.generate())


CUSTOMERS = pd.DataFrame(
    {
        "customer_id": ["CU10000001", "CU10000002", "CU10000001"],
        "full_name": ["Jane Doe", "John Roe", "Jane Doe"],
        "email": ["jane@example.com", "john@example.org", "jane@example.com"],
        "ssn": ["219-09-9999", "536-90-4399", "219-09-9999"],
        "segment": ["gold", "silver", "gold"],
    }
)


def test_governed_frame_over_http(served: LiveServer, protector: Protector) -> None:
    with GovernanceClient(served.url, served.keys["service"]) as client:
        decision = client.decide(
            "user:bob",
            "crm/customers",
            "model_training",
            columns=list(CUSTOMERS.columns),
            context={"channel": "crm", "region": "EU"},
            subject_attributes={"privacy_training": True},
        )
        assert decision.allowed, decision.reason
        out = governed_frame(
            client,
            protector,
            CUSTOMERS,
            subject="user:bob",
            dataset="crm/customers",
            purpose="model_training",
            context={"channel": "crm", "region": "EU"},
            subject_attributes={"privacy_training": True},
        )
    actions = {o.column: o.action.value for o in decision.obligations}
    # whatever obligations.yaml says, no column leaves in clear unless it says keep
    for column in CUSTOMERS.columns:
        if actions.get(column, "drop") == "drop":
            assert column not in out.columns
        elif actions[column] != "keep":
            assert not (out[column] == CUSTOMERS[column]).any(), column
    assert "ssn" not in out.columns  # a data scientist never gets social security numbers
    if actions.get("customer_id") == "pseudonymize":
        # deterministic: the same customer gets the same token, so joins still work
        assert out["customer_id"].iloc[0] == out["customer_id"].iloc[2]
        assert out["customer_id"].iloc[0] == protector.pseudonymize(
            "CU10000001", "CUSTOMER_ID", purpose="model_training"
        )


def test_unreachable_service_or_bad_key_denies(served: LiveServer, protector: Protector) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    with GovernanceClient(dead, "whatever", timeout=2) as client:
        decision = client.decide("user:bob", "crm/customers", "model_training")
        assert not decision.allowed
        assert "unreachable" in decision.reason
        with pytest.raises(AccessDenied):
            governed_frame(
                client,
                protector,
                CUSTOMERS,
                subject="user:bob",
                dataset="crm/customers",
                purpose="model_training",
            )
    with GovernanceClient(served.url, "gov_not_a_key") as client:
        decision = client.decide("user:bob", "crm/customers", "model_training")
        assert not decision.allowed
        assert "401" in decision.reason
        assert "gov_not_a_key" not in decision.reason


def test_prompt_guard_keeps_pii_away_from_the_model(served: LiveServer) -> None:
    prompt = (
        "Customer Jane Doe (jane.doe@example.com, +44 20 7946 0958) says parcel never came; "
        "she wrote again from jane.doe@example.com."
    )
    with GovernanceClient(served.url, served.keys["service"]) as client:
        guard = PromptGuard(client.analyze)
        scrubbed = guard.scrub(prompt)
    for secret in ("Jane Doe", "jane.doe@example.com", "7946 0958"):
        assert secret not in scrubbed.text
    # the same value twice gets the same placeholder
    assert scrubbed.text.count("<EMAIL_ADDRESS_1>") == 2
    assert guard.restore(scrubbed.text, scrubbed) == prompt  # the round trip is exact
    person = scrubbed.mapping["<PERSON_1>"]
    assert person == "Jane Doe"  # not "Customer Jane Doe", as spaCy alone would have it
    answer = "Apologise to <PERSON_1> and write to <EMAIL_ADDRESS_1>; ignore <PERSON_9>."
    restored = guard.restore(answer, scrubbed)
    assert restored == (
        f"Apologise to {person} and write to jane.doe@example.com; ignore <PERSON_9>."
    )


def test_emitter_runs_reach_the_graph_and_pii_follows(served: LiveServer) -> None:
    emitter = LineageEmitter.http(served.url, served.keys["service"], namespace="ml")
    customers = Dataset(
        "crm",
        "customers_adapter",
        ["customer_id", "full_name", "email"],
        classifications={"full_name": ["PERSON"], "email": ["EMAIL_ADDRESS"]},
    )
    features = Dataset("ml", "churn_features_adapter", ["customer_token", "name", "email_hash"])
    lineage = {
        ("ml", "churn_features_adapter", "customer_token"): [
            ("crm", "customers_adapter", "customer_id", "pseudonymize")
        ],
        ("ml", "churn_features_adapter", "name"): [
            ("crm", "customers_adapter", "full_name", "keep")
        ],
        ("ml", "churn_features_adapter", "email_hash"): [
            ("crm", "customers_adapter", "email", "hash")
        ],
    }
    with emitter.run(
        "churn.build_features", inputs=[customers], outputs=[features], column_lineage=lineage
    ) as run_id:
        pass
    with (
        pytest.raises(RuntimeError, match="feature store full"),
        emitter.run("churn.train", inputs=[features]) as failed_id,
    ):
        raise RuntimeError("feature store full")
    wait_drained(served)
    with served.client("auditor") as a:
        runs = a.get("/api/v1/namespaces/ml/jobs/churn.build_features/runs").json()["runs"]
        assert [(r["id"], r["state"]) for r in runs] == [(run_id, "COMPLETED")]
        failed = a.get("/api/v1/namespaces/ml/jobs/churn.train/runs").json()["runs"]
        assert [(r["id"], r["state"]) for r in failed] == [(failed_id, "FAILED")]
        name_flow = a.get(
            "/v1/lineage/pii-flow",
            params={"nodeId": "datasetField:crm:customers_adapter:full_name"},
        ).json()
        email_flow = a.get(
            "/v1/lineage/pii-flow",
            params={"nodeId": "datasetField:crm:customers_adapter:email"},
        ).json()
        # the producer's classifications wait for a steward as suggestions from lineage
        with served.client("steward") as st:
            listed = st.get(
                "/v1/pii/classifications", params={"dataset": "crm/customers_adapter"}
            ).json()
    assert {(c["column"], c["pii_type"], c["status"], c["source"]) for c in listed} == {
        ("full_name", "PERSON", "suggested", "lineage"),
        ("email", "EMAIL_ADDRESS", "suggested", "lineage"),
    }
    reached = {r["field"]: r["piiTypes"] for r in name_flow["reaches"]}
    assert reached == {"datasetField:ml:churn_features_adapter:name": ["PERSON"]}
    assert email_flow["reaches"] == []  # hashing is masking: the email stops here
    assert [s["field"] for s in email_flow["stopped"]] == [
        "datasetField:ml:churn_features_adapter:email_hash"
    ]
