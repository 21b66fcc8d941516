"""The steward's policy test cases (policies/tests/*.yaml) run as pytest cases too."""

from __future__ import annotations

from pathlib import Path

import pytest

from governance.pdp.engine import PolicyDecisionPoint
from governance.pdp.policytests import PolicyCase, check_case, load_cases

POLICIES = Path(__file__).resolve().parents[3] / "policies"
CASES = load_cases(POLICIES / "tests")


@pytest.fixture(scope="module")
def pdp() -> PolicyDecisionPoint:
    return PolicyDecisionPoint.from_directory(POLICIES, cache_size=0)


def test_there_are_cases() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_policy_case(pdp: PolicyDecisionPoint, case: PolicyCase) -> None:
    result = check_case(pdp, case)
    assert result.passed, result.message


def test_a_wrong_expectation_fails(pdp: PolicyDecisionPoint) -> None:
    case = CASES[0]
    flipped = "deny" if case.expect["decision"] == "allow" else "allow"
    wrong = PolicyCase(
        case.file, case.line, case.name, case.request, {**case.expect, "decision": flipped}
    )
    assert not check_case(pdp, wrong).passed


def test_a_wrong_obligation_fails(pdp: PolicyDecisionPoint) -> None:
    case = next(c for c in CASES if c.expect.get("obligations"))
    column = next(iter(case.expect["obligations"]))
    expect = {
        **case.expect,
        "obligations": {column: "keep" if case.expect["obligations"][column] != "keep" else "drop"},
    }
    assert not check_case(
        pdp, PolicyCase(case.file, case.line, case.name, case.request, expect)
    ).passed
