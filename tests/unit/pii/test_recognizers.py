"""The analyzer's own rules on top of Presidio: each case was a miss or a wrong type before.

Expected values are worked out by hand: the card numbers pass Luhn (checked below, not trusted),
the phone numbers are valid for their country per ``phonenumbers``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import phonenumbers
import pytest

from governance.pii.analyzer import Finding, PiiAnalyzer, resolve_overlaps
from governance.pii.checksums import luhn

ROOT = Path(__file__).resolve().parents[3]


def found(analyzer: PiiAnalyzer, text: str) -> set[tuple[str, str]]:
    return {(f.entity_type, text[f.start : f.end]) for f in analyzer.analyze(text)}


def test_mastercard_two_series_is_a_card(analyzer: PiiAnalyzer) -> None:
    card = "2221 0000 0000 0009"
    assert luhn(card.replace(" ", ""))
    assert ("CREDIT_CARD", card) in found(analyzer, f"the card {card} was charged twice")
    # and the Luhn check still decides: one digit off is no card
    assert "CREDIT_CARD" not in {t for t, _ in found(analyzer, "the card 2221 0000 0000 0008 x")}


def test_number_after_a_plus_is_a_phone_not_a_card(analyzer: PiiAnalyzer) -> None:
    number = "+3937769670506"
    assert luhn(number[1:])  # the trap: the digits pass Luhn
    assert phonenumbers.is_valid_number(phonenumbers.parse(number))
    assert found(analyzer, f"Can you call me back on {number} about the return?") >= {
        ("PHONE_NUMBER", number)
    }
    assert "CREDIT_CARD" not in {t for t, _ in found(analyzer, f"call {number}")}


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("Collect in store; contact 818 81 77 86.", "818 81 77 86"),  # Spain, national
        ("Recipient phone 06 29 69 01 87 please", "06 29 69 01 87"),  # France
        ("Ring 020 7946 0958 on arrival", "020 7946 0958"),  # UK
    ],
)
def test_national_formats_of_configured_regions(
    analyzer: PiiAnalyzer, text: str, number: str
) -> None:
    assert ("PHONE_NUMBER", number) in found(analyzer, text)


def test_pattern_inside_a_longer_pattern_gives_way() -> None:
    text = "call +1 847-748-1520 now"
    phone = Finding("PHONE_NUMBER", 5, 20, 0.4, "PhoneRecognizer")
    nhs = Finding("UK_NHS", 8, 20, 1.0, "NhsRecognizer")
    assert text[phone.start : phone.end] == "+1 847-748-1520"
    assert resolve_overlaps([nhs, phone]) == [phone]
    # overlapping without containment: the higher score still wins
    a = Finding("A", 0, 10, 0.9, "RA")
    b = Finding("B", 5, 15, 0.5, "RB")
    assert resolve_overlaps([a, b]) == [a]
    # a steward's recognizer beats a built-in on an overlap
    assert resolve_overlaps([a, b], preferred=frozenset({"RB"})) == [b]


def test_customer_id_is_not_a_dea_number(analyzer: PiiAnalyzer) -> None:
    text = '{"event": "checkout", "customer": "CU25173746", "total": 59.9}'
    assert found(analyzer, text) >= {("CUSTOMER_ID", "CU25173746")}
    assert "MEDICAL_LICENSE" not in {t for t, _ in found(analyzer, text)}


def test_names_after_a_role_word(analyzer: PiiAnalyzer) -> None:
    # spaCy's small model calls this name an organisation; the role word settles it
    assert ("PERSON", "Chase Young") in found(analyzer, "Cashier: Chase Young   Total: 84.20 EUR")
    # capitalised words with no role word before them are not names by this rule
    assert "PERSON" not in {t for t, _ in found(analyzer, "Order Status Page Updated.")}


def test_evaluation_set_spans_are_exact() -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from pii_evalset import sentences, tables

    examples = sentences(400)
    assert len(examples) >= 300
    assert {e.channel for e in examples} == {
        "support_chat",
        "order_note",
        "crm_export",
        "pos_receipt",
        "app_event",
    }
    for e in examples:
        for s in e.spans:
            assert e.text[s.start : s.end] == s.text
    cases = tables(20)
    assert len(cases) >= 20
    assert all(set(c.columns) == set(c.labels) for c in cases)
    # the same seed gives the same set
    assert [e.text for e in sentences(50)] == [e.text for e in examples[:50]]


def test_batch_and_worker_processes_give_the_per_text_findings(analyzer: PiiAnalyzer) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from pii_evalset import sentences

    texts = [e.text for e in sentences(40)]
    one_by_one = [analyzer.analyze(t) for t in texts]
    assert any(one_by_one)
    assert analyzer.analyze_batch(texts, batch_size=8) == one_by_one
    try:
        assert analyzer.analyze_batch(texts, batch_size=8, processes=2) == one_by_one
    finally:
        analyzer.close()


def test_a_role_word_is_not_part_of_the_name(analyzer: PiiAnalyzer) -> None:
    text = "Customer Jane Doe (jane.doe@example.com) says the parcel never came"
    people = {v for t, v in found(analyzer, text) if t == "PERSON"}
    assert people == {"Jane Doe"}  # spaCy alone says "Customer Jane Doe"
    assert [
        text[f.start : f.end]
        for f in analyzer.analyze_batch([text])[0]
        if f.entity_type == "PERSON"
    ] == ["Jane Doe"]
