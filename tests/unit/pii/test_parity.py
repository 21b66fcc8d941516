"""Never worse than plain Presidio: the three ways a held-out corpus found the analyzer worse,
and a differential test against ``AnalyzerEngine`` on texts of the second evaluation set.

"Plain Presidio" is Presidio's ``AnalyzerEngine`` with its default recognizers on the same spaCy
model and threshold (``bench/pii_compare.py``). The rule, per entity type: the analyzer hits at
least the labelled spans plain Presidio hits, and has at most its false positives.
"""

from __future__ import annotations

import os
from typing import Any

import phonenumbers
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pii_compare import parity_failures, plain_findings, score
from pii_evalset2 import sentences2
from presidio_analyzer.predefined_recognizers import NhsRecognizer, PhoneRecognizer

from governance.config import DEFAULT_PHONE_REGIONS, PRESIDIO_PHONE_REGIONS, PiiSettings
from governance.pii.analyzer import PiiAnalyzer
from governance.pii.findings import Finding, NotNames
from governance.pii.phones import looks_like_date


def found(analyzer: PiiAnalyzer, text: str) -> set[tuple[str, str]]:
    return {(f.entity_type, text[f.start : f.end]) for f in analyzer.analyze(text)}


def plain_found(plain: Any, text: str) -> set[tuple[str, str]]:
    return {(r.entity_type, text[r.start : r.end]) for r in plain.analyze(text, language="en")}


# ---- 1. a US number that passes the NHS check is a phone number --------------------------------


def test_us_number_after_phone_context_is_a_phone_not_an_nhs_number(
    analyzer: PiiAnalyzer, plain: Any
) -> None:
    number = "646-555-0172"
    text = f"Text the pickup code to {number} before noon."
    # the trap: a valid US number whose ten digits pass the NHS mod-11 check
    assert phonenumbers.is_valid_number(phonenumbers.parse(number, "US"))
    assert NhsRecognizer().validate_result(number)
    assert ("PHONE_NUMBER", number) in plain_found(plain, text)
    ours = found(analyzer, text)
    assert ("PHONE_NUMBER", number) in ours
    assert "UK_NHS" not in {t for t, _ in ours}
    # the same with no words about it at all (a CSV row)
    assert ("PHONE_NUMBER", number) in found(analyzer, f"Jane;Doe;{number};Leeds")


def test_an_nhs_number_with_its_label_stays_an_nhs_number(analyzer: PiiAnalyzer) -> None:
    number = "943 476 5919"
    assert NhsRecognizer().validate_result(number)
    text = f"Patient NHS number {number}, registered at a GP in Leeds."
    assert ("UK_NHS", number) in found(analyzer, text)
    assert "PHONE_NUMBER" not in {t for t, _ in found(analyzer, text)}


def test_a_phone_without_a_phone_word_yields_to_an_identifier_with_its_own(
    analyzer: PiiAnalyzer, plain: Any
) -> None:
    text = "My driver's license number is 056411994"  # found by the differential test
    assert ("US_DRIVER_LICENSE", "056411994") in plain_found(plain, text)
    assert ("PHONE_NUMBER", "056411994") in plain_found(plain, text)  # a valid Israeli number
    assert found(analyzer, text) == {("US_DRIVER_LICENSE", "056411994")}


# ---- 2. shop codes are no phone numbers --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("SKU 5500-0000-12 is back in stock.", "5500-0000-12"),  # a valid Italian number
        ("Invoice INV-2024-000123 was paid.", "2024-000123"),  # a valid US one
        ("Cycle count: 135 units of 684-362-763 missing.", "684-362-763"),  # Spanish
        ("Callback scheduled for 30.03.2026 at 11:30.", "30.03.2026"),  # Brazilian, and a date
    ],
)
def test_shop_codes_and_dates_are_not_phone_numbers(
    analyzer: PiiAnalyzer, text: str, code: str
) -> None:
    all_regions = PhoneRecognizer(supported_regions=DEFAULT_PHONE_REGIONS)
    assert code in {text[r.start : r.end] for r in all_regions.analyze(text, ["PHONE_NUMBER"])}
    assert "PHONE_NUMBER" not in {t for t, _ in found(analyzer, text)}


def test_national_formats_of_extra_regions_need_a_phone_word(analyzer: PiiAnalyzer) -> None:
    spanish = "612 34 56 78"
    assert phonenumbers.is_valid_number(phonenumbers.parse(spanish, "ES"))
    assert ("PHONE_NUMBER", spanish) in found(analyzer, f"Order 12 ships; call {spanish}.")
    assert ("PHONE_NUMBER", spanish) in found(analyzer, f"Mobile: {spanish}")
    assert "PHONE_NUMBER" not in {t for t, _ in found(analyzer, f"Restock bin {spanish} today")}
    # written internationally, it needs no word
    assert ("PHONE_NUMBER", "+34 612 34 56 78") in found(analyzer, "Restock +34 612 34 56 78")


def test_presidios_regions_are_all_in_and_only_they_go_without_a_word() -> None:
    assert set(PRESIDIO_PHONE_REGIONS) == set(PhoneRecognizer.DEFAULT_SUPPORTED_REGIONS)
    assert set(PRESIDIO_PHONE_REGIONS) <= set(DEFAULT_PHONE_REGIONS)
    assert PiiSettings().phone_regions_without_word == list(PRESIDIO_PHONE_REGIONS)


def test_an_israeli_number_as_plain_presidio_finds_it(analyzer: PiiAnalyzer, plain: Any) -> None:
    text = "John;Villegas;081 808639;22-9540-7082"  # found by the differential test
    assert ("PHONE_NUMBER", "081 808639") in plain_found(plain, text)
    assert ("PHONE_NUMBER", "081 808639") in found(analyzer, text)


def test_dates_are_told_by_their_calendar() -> None:
    assert looks_like_date("30.03.2026")
    assert looks_like_date("14.12.2025 10")  # a date and an hour, as the matcher cuts it
    assert looks_like_date("2026-03-30")
    assert not looks_like_date("31.02.2026")  # no such day
    assert not looks_like_date("646-555-0172")


# ---- 3. field names and words of the trade are no names ---------------------------------------


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("Please quote your SSN when you call.", "SSN"),
        ("The IBAN field on the form was blank.", "IBAN"),
        ("Voicemail left at 9am by a customer.", "Voicemail"),
    ],
)
def test_field_names_and_trade_words_are_not_names(
    analyzer: PiiAnalyzer, plain: Any, text: str, word: str
) -> None:
    named = {"PERSON", "ORGANIZATION", "LOCATION", "NRP"}
    assert {v for t, v in plain_found(plain, text) if t in named} == {word}  # spaCy's mistake
    assert not {v for t, v in found(analyzer, text) if t in named}


def test_a_sentence_initial_trade_word_is_cut_from_an_ner_name() -> None:
    words = NotNames(["Callback"])
    text = "Callback Jane Doe asked again. Callback requested for Monday."
    ner = [
        Finding("PERSON", 0, 17, 0.85, "SpacyRecognizer"),  # "Callback Jane Doe"
        Finding("PERSON", 31, 39, 0.85, "SpacyRecognizer"),  # "Callback"
    ]
    assert [text[f.start : f.end] for f in words.apply(ner, text)] == ["Jane Doe"]
    # the stewards' words match in any case, the built-in abbreviations only in capitals
    assert "callback" in words
    assert "SSN" in words
    assert "ssn" not in words


def test_role_word_names_need_the_role_word_right_before_them(analyzer: PiiAnalyzer) -> None:
    assert ("PERSON", "Amber Reid") in found(analyzer, "Dear Amber Reid, your order shipped.")
    for text in (
        "Customer asked whether Polar Fleece Throw comes in blue.",
        "Dear Valued Customer, your order shipped.",
        "Please contact Click And Collect about invoice 4471.",
        "Please contact Account Holder about the refund.",
    ):
        assert "PERSON" not in {t for t, _ in found(analyzer, text)}, text


def test_an_ner_span_over_a_pattern_keeps_the_name(analyzer: PiiAnalyzer, plain: Any) -> None:
    text = "Joel;Daniels;+1 518-617-7651;36-0780-3362"
    assert any(t == "PERSON" and "Joel" in v for t, v in plain_found(plain, text))
    assert ("PERSON", "Joel;Daniels") in found(analyzer, text)


# ---- the differential test ---------------------------------------------------------------------


def worse_than_plain(analyzer: PiiAnalyzer, plain: Any, n: int, seed: int) -> list[str]:
    examples = sentences2(n, seed)
    texts = [e.text for e in examples]
    ours = score(examples, analyzer.analyze_batch(texts))
    theirs = score(examples, plain_findings(plain, texts))
    return parity_failures(ours, theirs)


# a seed is drawn, not shrunk: a smaller seed is no simpler a corpus, only another run of it
NO_SHRINK = [Phase.explicit, Phase.reuse, Phase.generate]


# a few seconds, the same seeds every run (derandomize): CI does not flicker
@settings(
    max_examples=2,
    deadline=None,
    derandomize=True,
    phases=NO_SHRINK,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_never_worse_than_plain_presidio_on_generated_texts(
    analyzer: PiiAnalyzer, plain: Any, seed: int
) -> None:
    assert worse_than_plain(analyzer, plain, 50, seed) == []


# 2,400 texts, the same seeds every run, so CI does not flicker: with fresh seeds it found the
# missing Israeli region, and later seed 447405 (DATE_TIME recall 64/72 vs plain's 65/72, an
# open finding). Explore new seeds with GOVERNANCE_PII_PARITY_EXPLORE=1.
@pytest.mark.slow
@settings(
    max_examples=6,
    deadline=None,
    derandomize=not os.environ.get("GOVERNANCE_PII_PARITY_EXPLORE"),
    phases=NO_SHRINK,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_never_worse_than_plain_presidio_on_many_generated_texts(
    analyzer: PiiAnalyzer, plain: Any, seed: int
) -> None:
    assert worse_than_plain(analyzer, plain, 400, seed) == []


def test_a_phone_column_needs_no_phone_word_in_its_cells(analyzer: PiiAnalyzer) -> None:
    from governance.pii.scan import TableScanner

    spanish = ["612 34 56 78", "622 45 67 89", "633 12 34 56", "655 98 76 54", "677 11 22 33"]
    assert all(phonenumbers.is_valid_number(phonenumbers.parse(n, "ES")) for n in spanish)
    scanner = TableScanner(analyzer)
    assert scanner.classify_column("mobile", spanish).pii_types == ["PHONE_NUMBER"]
    # the same digits under a name that says nothing of phones are stock codes
    assert "PHONE_NUMBER" not in scanner.classify_column("bin", spanish).pii_types


def test_an_nhs_column_stays_an_nhs_column(analyzer: PiiAnalyzer) -> None:
    from pii_evalset2 import Values2

    from governance.pii.scan import TableScanner

    # valid NHS numbers, most of them valid phone numbers of Presidio's regions too: a lone cell
    # has no context word, so the checksum decides, as before
    values = Values2(5)
    numbers = [values.nhs() for _ in range(40)]
    assert all(NhsRecognizer().validate_result(n) for n in numbers)
    phones = PhoneRecognizer()
    assert sum(bool(phones.analyze(n, ["PHONE_NUMBER"])) for n in numbers) >= 20
    verdict = TableScanner(analyzer).classify_column("nhs_no", numbers)
    assert verdict.pii_types == ["UK_NHS"]
