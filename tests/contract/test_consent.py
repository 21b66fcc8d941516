"""Consent and opt-outs on both SQL databases: history, keyed subjects, and the decisions they
change (one subject, and a whole table through a row filter)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from governance.db import Database
from governance.errors import InvalidInput
from governance.pdp.decision import AccessRequest, Decision
from governance.pdp.engine import PolicyDecisionPoint
from governance.pii.apply import apply_to_rows
from governance.pii.keyring import KeyRing
from governance.pii.operators import Protector
from governance.subjects.consent import ConsentGate, ConsentStore, NewConsent
from governance.subjects.identifiers import SubjectIdentifiers, SubjectKeys


class World:
    def __init__(self, database: Database, policy_dir: Path) -> None:
        self.pdp = PolicyDecisionPoint.from_directory(policy_dir, run_tests=False)
        self.ring = KeyRing.generate()
        self.keys = SubjectKeys(self.ring, self.pdp.bundle.catalog.identifiers)
        self.store = ConsentStore(database, self.keys, lambda: self.pdp.bundle.purposes)
        self.gate = ConsentGate(
            self.store, lambda: self.pdp.bundle.purposes, lambda: self.pdp.bundle.catalog
        )
        self.database = database

    def consent(self, customer: str, purpose: str, status: str, **kw: object) -> None:
        self.store.record(
            NewConsent(SubjectIdentifiers(customer_id=customer), purpose, status, **kw),  # type: ignore[arg-type]
            by="test",
        )

    def decide(self, purpose: str, customer: str | None = None, **context: object) -> Decision:
        body: dict[str, object] = {
            "subject": {"id": "user:alice"},
            "action": "read",
            "resource": {"dataset": "crm/customers"},
            "purpose": purpose,
            "context": {"region": "EU", "channel": "crm", **context},
        }
        if customer:
            body["subject_ref"] = {"customer_id": customer}
        request = AccessRequest.model_validate(body)
        decision = self.pdp.decide(request)
        assert decision.allowed, decision.reason  # the policy allows: consent decides
        return self.gate.apply(request, decision, by="test").decision


@pytest.fixture
def world(database: Database, policy_dir: Path) -> Iterator[World]:
    made = World(database, policy_dir)
    yield made
    made.store.close()


def test_history_is_kept_and_the_latest_record_decides(world: World) -> None:
    world.consent("CU10000001", "marketing", "granted")
    assert world.decide("marketing", "CU10000001").allowed
    world.consent("CU10000001", "marketing", "withdrawn")
    denied = world.decide("marketing", "CU10000001")
    assert not denied.allowed
    assert "consent for marketing withdrawn" in denied.reason
    assert "consent record 2" in denied.reason
    world.consent("CU10000001", "marketing", "granted")
    again = world.decide("marketing", "CU10000001")
    assert again.allowed
    assert "consent record 3" in again.reason
    identifier = world.keys.identifier("customer_id", "CU10000001")
    assert [r.status for r in world.store.history(identifier)] == [
        "granted",
        "withdrawn",
        "granted",
    ]


def test_a_consent_purpose_without_a_record_is_denied(world: World) -> None:
    denied = world.decide("marketing", "CU10000002")
    assert not denied.allowed
    assert "none is on record" in denied.reason


def test_purposes_on_other_bases_are_not_touched(world: World) -> None:
    world.consent("CU10000003", "marketing", "withdrawn")
    assert world.decide("analytics", "CU10000003").allowed  # legitimate interests


def test_an_opt_out_of_sharing_denies_a_sharing_purpose(world: World) -> None:
    world.consent("CU10000004", "marketing", "granted")
    world.consent("CU10000004", "share", "withdrawn")
    denied = world.decide("marketing", "CU10000004")
    assert not denied.allowed
    assert "opted out of share" in denied.reason


def test_the_gpc_signal_is_an_opt_out_and_is_recorded(world: World) -> None:
    world.consent("CU10000005", "marketing", "granted")
    denied = world.decide("marketing", "CU10000005", gpc=True)
    assert not denied.allowed
    assert "Global Privacy Control" in denied.reason
    identifier = world.keys.identifier("customer_id", "CU10000005")
    gpc = [r for r in world.store.history(identifier) if r.source == "gpc"]
    assert {(r.purpose, r.status) for r in gpc} == {("share", "withdrawn")}
    # the recorded opt-out holds for the next decision, without the signal
    assert not world.decide("marketing", "CU10000005").allowed


def test_no_identifier_reaches_the_database(world: World) -> None:
    world.store.record(
        NewConsent(
            SubjectIdentifiers(customer_id="CU10000006", email="Jane.Doe@Example.com"),
            "marketing",
            "granted",
        ),
        by="test",
    )
    with world.database.engine.connect() as conn:
        dump = " ".join(
            str(v) for row in conn.execute(sa.text("SELECT * FROM consent_event")) for v in row
        )
    assert "CU10000006" not in dump
    assert "jane.doe" not in dump.lower()
    # either identifier finds the record (the e-mail canonically: case-blind)
    email = world.keys.identifier("email", "jane.doe@example.COM")
    assert [r.purpose for r in world.store.history(email)] == ["marketing"]


@pytest.mark.parametrize(
    ("kind", "value"),
    [("customer_id", "12345"), ("email", "not-an-email"), ("phone", "call me"), ("iban", "x")],
)
def test_identifiers_of_the_wrong_shape_are_refused(world: World, kind: str, value: str) -> None:
    with pytest.raises(InvalidInput):
        world.keys.identifier(kind, value)


def test_a_whole_table_gets_a_row_filter_of_the_consented(world: World) -> None:
    for n, status in ((11, "granted"), (12, "withdrawn"), (13, "granted")):
        world.consent(f"CU100000{n}", "marketing", status)
    world.consent("CU10000013", "share", "withdrawn")  # granted marketing, opted out of share
    decision = world.decide("marketing")
    assert decision.allowed
    rows = [
        {"customer_id": f"CU100000{n}", "email": f"c{n}@example.com", "consent_marketing": True}
        for n in (11, 12, 13, 14)
    ]
    protector = Protector(world.ring)
    seen = apply_to_rows(rows, decision, protector, purpose="marketing")
    # 11 consented; 12 withdrew; 13 opted out of sharing; 14 never consented
    assert len(seen) == 1
    assert "consent list version" in decision.reason


def test_a_table_without_a_subject_column_fails_closed(world: World) -> None:
    request = AccessRequest.model_validate(
        {
            "subject": {"id": "user:alice"},
            "action": "read",
            "resource": {"dataset": "analytics/daily_sales"},
            "purpose": "marketing",
            "context": {"region": "EU"},
        }
    )
    allowed = Decision.model_construct(
        decision="allow",  # type: ignore[arg-type]
        reason="allowed by test",
        matched_rule=None,
        obligations=[],
        row_filter=None,
        policy_version="v",
        decision_id="",
    )
    from governance.pdp.decision import Effect

    allowed = allowed.model_copy(update={"decision": Effect.allow})
    outcome = world.gate.apply(request, allowed)
    assert not outcome.decision.allowed
    assert "fail closed" in outcome.decision.reason
