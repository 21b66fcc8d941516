"""Applying obligations to rows and DataFrames, with decisions from the shipped policy."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.errors import AccessDenied, InvalidInput
from governance.pdp.decision import AccessRequest, Decision
from governance.pdp.engine import PolicyDecisionPoint
from governance.pii.apply import apply_obligations, apply_to_frame, apply_to_rows
from governance.pii.keyring import KeyRing
from governance.pii.operators import Protector

POLICIES = Path(__file__).resolve().parents[3] / "policies"


@pytest.fixture(scope="module")
def pdp() -> PolicyDecisionPoint:
    return PolicyDecisionPoint.from_directory(POLICIES)


@pytest.fixture(scope="module")
def protector() -> Protector:
    return Protector(KeyRing.generate())


CUSTOMERS = [
    {
        "customer_id": "CU00000001",
        "full_name": "Jane Doe",
        "email": "jane@example.com",
        "phone": "+44 20 7946 0958",
        "region": "EU",
        "mystery": "door code 4711",
    },
    {
        "customer_id": "CU00000002",
        "full_name": "John Roe",
        "email": "john@example.org",
        "phone": None,
        "region": "US",
        "mystery": None,
    },
]


def decide(pdp: PolicyDecisionPoint, subject: str, purpose: str, columns: list[str]) -> Decision:
    return pdp.decide(
        AccessRequest.model_validate(
            {
                "subject": {"id": subject},
                "action": "read",
                "resource": {"dataset": "crm/customers", "columns": columns},
                "purpose": purpose,
                "context": {"region": "EU", "channel": "crm"},
            }
        )
    )


def test_marketing_analytics_sees_what_obligations_yaml_says(
    pdp: PolicyDecisionPoint, protector: Protector
) -> None:
    decision = decide(pdp, "user:alice", "analytics", list(CUSTOMERS[0]))
    assert decision.allowed, decision.reason
    actions = {o.column: (o.pii_type, o.action.value) for o in decision.obligations}
    assert actions["mystery"] == ("UNKNOWN", "mask")  # not in the catalog: the safe default
    out = apply_obligations(CUSTOMERS, decision, protector, purpose="analytics")
    assert len(out) == 2
    first = out[0]
    assert list(first) == [
        "customer_id",
        "full_name",
        "email",
        "region",
        "mystery",
    ]  # phone dropped
    assert first["customer_id"] == protector.pseudonymize(
        "CU00000001", "CUSTOMER_ID", purpose="analytics"
    )
    assert first["full_name"] == protector.pseudonymize("Jane Doe", "PERSON", purpose="analytics")
    assert first["email"] == protector.hash("jane@example.com", "EMAIL_ADDRESS")
    assert first["region"] == "EU"
    assert first["mystery"] == "d*** **** ***1"
    assert out[1]["mystery"] is None


def test_columns_not_in_the_decision_are_dropped(
    pdp: PolicyDecisionPoint, protector: Protector
) -> None:
    decision = decide(pdp, "user:alice", "analytics", ["customer_id", "region"])
    out = apply_obligations(CUSTOMERS, decision, protector, purpose="analytics")
    assert [list(r) for r in out] == [["customer_id", "region"], ["customer_id", "region"]]


def test_a_deny_returns_nothing(pdp: PolicyDecisionPoint, protector: Protector) -> None:
    decision = decide(pdp, "user:erin", "marketing", ["email"])  # an auditor, marketing
    assert not decision.allowed
    with pytest.raises(AccessDenied):
        apply_obligations(CUSTOMERS, decision, protector, purpose="marketing")
    with pytest.raises(AccessDenied):
        apply_obligations(pd.DataFrame(CUSTOMERS), decision, protector, purpose="marketing")


def allow(
    obligations: list[dict[str, str]], row_filter: list[dict[str, Any]] | None = None
) -> Decision:
    return Decision.model_validate(
        {
            "decision": "allow",
            "reason": "test",
            "obligations": obligations,
            "row_filter": row_filter,
            "policy_version": "test",
        }
    )


def test_row_filter_judges_stored_values_before_masking(protector: Protector) -> None:
    decision = allow(
        [
            {"column": "region", "pii_type": "LOCATION", "action": "mask"},
            {"column": "email", "pii_type": "EMAIL_ADDRESS", "action": "keep"},
        ],
        [{"column": "region", "op": "eq", "value": "EU"}],
    )
    rows = apply_to_rows(CUSTOMERS, decision, protector, purpose="x")
    assert rows == [{"email": "jane@example.com", "region": "**"}]
    frame = apply_to_frame(pd.DataFrame(CUSTOMERS), decision, protector, purpose="x")
    assert frame.to_dict("records") == rows


def test_row_filter_on_a_missing_column_refuses(protector: Protector) -> None:
    decision = allow(
        [{"column": "email", "pii_type": "EMAIL_ADDRESS", "action": "keep"}],
        [{"column": "tenant", "op": "eq", "value": "a"}],
    )
    with pytest.raises(InvalidInput, match="tenant"):
        apply_to_rows(CUSTOMERS, decision, protector, purpose="x")
    with pytest.raises(InvalidInput, match="tenant"):
        apply_to_frame(pd.DataFrame(CUSTOMERS), decision, protector, purpose="x")


def test_decision_json_from_the_api_works_too(protector: Protector) -> None:
    answer = {
        "decision": "allow",
        "reason": "r",
        "obligations": [{"column": "email", "pii_type": "EMAIL_ADDRESS", "action": "mask"}],
        "row_filter": None,
        "policy_version": "v",
        "decision_id": "d",
        "matched_rule": None,
    }
    assert apply_obligations(CUSTOMERS[:1], answer, protector, purpose="x") == [
        {"email": "j***@example.com"}
    ]


ACTIONS = ["keep", "mask", "hash", "pseudonymize", "encrypt", "redact", "drop"]
values = st.one_of(st.none(), st.text(max_size=12), st.integers(-5, 5))


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.fixed_dictionaries({"a": values, "b": values, "c": values}), min_size=1, max_size=20
    ),
    actions=st.lists(st.sampled_from(ACTIONS), min_size=3, max_size=3),
    listed=st.lists(st.booleans(), min_size=3, max_size=3),
)
def test_rows_and_frames_give_the_same_answer(
    protector: Protector, rows: list[dict[str, Any]], actions: list[str], listed: list[bool]
) -> None:
    obligations = [
        {"column": col, "pii_type": "PERSON", "action": action}
        for col, action, present in zip("abc", actions, listed, strict=True)
        if present
    ]
    decision = allow(obligations)
    from_rows = apply_to_rows(rows, decision, protector, purpose="p", dataset="ns/t")
    frame = apply_to_frame(
        pd.DataFrame(rows, dtype=object), decision, protector, purpose="p", dataset="ns/t"
    )
    shown = {o["column"] for o in obligations if o["action"] != "drop"}
    expected_columns = [c for c in rows[0] if c in shown]  # in the data's order
    assert list(frame.columns) == expected_columns
    assert all(list(r) == expected_columns for r in from_rows)
    for got, want in zip(frame.to_dict("records"), from_rows, strict=True):
        for column in expected_columns:
            a, b = got[column], want[column]
            assert a == b or (_na(a) and _na(b))


def _na(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def test_frame_and_rows_agree_with_repeats_and_missing_values(
    pdp: PolicyDecisionPoint, protector: Protector
) -> None:
    import pandas as pd

    rows = [CUSTOMERS[i % 2] for i in range(7)]  # every value repeated, None among them
    decision = decide(pdp, "user:alice", "analytics", list(CUSTOMERS[0]))
    as_rows = apply_to_rows(rows, decision, protector, purpose="analytics")
    frame = apply_to_frame(pd.DataFrame(rows), decision, protector, purpose="analytics")
    assert list(frame.columns) == list(as_rows[0])
    for got, want in zip(frame.to_dict("records"), as_rows, strict=True):
        assert got == want
    assert frame["mystery"].isna().tolist() == [False, True] * 3 + [False]
    assert frame["full_name"].iloc[0] == frame["full_name"].iloc[2] != frame["full_name"].iloc[1]


def test_an_encrypting_decision_needs_the_dataset(protector: Protector) -> None:
    """Tokens are bound to where they come from: without it, nothing is returned."""
    decision = allow([{"column": "email", "pii_type": "EMAIL_ADDRESS", "action": "encrypt"}])
    with pytest.raises(InvalidInput, match="dataset"):
        apply_to_rows(CUSTOMERS, decision, protector, purpose="x")
    rows = apply_to_rows(CUSTOMERS, decision, protector, purpose="x", dataset="crm/customers")
    token = rows[0]["email"]
    assert (
        protector.decrypt(token, dataset="crm/customers", column="email") == CUSTOMERS[0]["email"]
    )
