"""Policy test cases written by stewards (``policies/tests/*.yaml``), in the spirit of ``opa test``.

A case is a request and what its decision must be::

    cases:
      - name: analysts see hashed e-mails
        request: {subject: {id: user:alice}, action: read, purpose: analytics,
                  resource: {dataset: crm/customers, columns: [email]}, context: {region: EU}}
        expect:
          decision: allow
          obligations: {email: hash}          # only the columns listed are checked
          row_filter: none                    # or a list of {column, op, value}
          reason_contains: policy.csv         # optional
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from governance.pdp.decision import AccessRequest, Decision
from governance.pdp.engine import PolicyDecisionPoint
from governance.pdp.sources import SourceError, line_of, load_yaml


@dataclass(frozen=True)
class PolicyCase:
    file: str
    line: int
    name: str
    request: dict[str, Any]
    expect: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}:{self.name}"


@dataclass(frozen=True)
class CaseResult:
    case: PolicyCase
    passed: bool
    message: str
    decision: Decision | None = None


def load_cases(directory: Path) -> list[PolicyCase]:
    """Every case in ``directory/*.yaml``; a file that does not parse raises ``SourceError``."""
    cases = []
    for path in sorted(directory.glob("*.yaml")):
        display = f"tests/{path.name}"
        doc = load_yaml(path, display) or {}
        for i, node in enumerate(doc.get("cases") or []):
            cases.append(
                PolicyCase(
                    file=display,
                    line=line_of(node),
                    name=str(node.get("name", f"case {i + 1}")),
                    request=dict(node.get("request") or {}),
                    expect=dict(node.get("expect") or {}),
                )
            )
    return cases


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def check_case(pdp: PolicyDecisionPoint, case: PolicyCase) -> CaseResult:
    try:
        request = AccessRequest.model_validate(_plain(case.request))
    except ValidationError as exc:
        return CaseResult(case, False, f"bad request in the case: {exc.errors()[0]['msg']}")
    decision = pdp.decide(request)
    problems: list[str] = []
    want = case.expect.get("decision")
    if want not in ("allow", "deny"):
        return CaseResult(case, False, "expect.decision must be allow or deny", decision)
    if decision.decision.value != want:
        problems.append(f"expected {want}, got {decision.decision.value} ({decision.reason})")
    fragment = case.expect.get("reason_contains")
    if fragment and str(fragment) not in decision.reason:
        problems.append(f"reason {decision.reason!r} lacks {fragment!r}")
    expected_obligations = case.expect.get("obligations") or {}
    actual = {o.column: o.action.value for o in decision.obligations}
    for column, action in expected_obligations.items():
        if actual.get(str(column)) != str(action):
            problems.append(
                f"{column}: expected {action}, got {actual.get(str(column), 'nothing')}"
            )
    if "row_filter" in case.expect:
        wanted = case.expect["row_filter"]
        got = [c.model_dump(mode="json") for c in decision.row_filter or []]
        wanted_list = [] if wanted in (None, "none") else _plain(wanted)
        if got != wanted_list:
            problems.append(f"row_filter: expected {wanted_list}, got {got}")
    if problems:
        return CaseResult(case, False, "; ".join(problems), decision)
    return CaseResult(case, True, decision.reason, decision)


def run_cases(pdp: PolicyDecisionPoint, directory: Path) -> Iterator[CaseResult]:
    try:
        cases = load_cases(directory)
    except SourceError as exc:
        dummy = PolicyCase(exc.finding.file, exc.finding.line, "(file)", {}, {})
        yield CaseResult(dummy, False, exc.finding.message)
        return
    for case in cases:
        yield check_case(pdp, case)
