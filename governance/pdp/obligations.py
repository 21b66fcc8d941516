"""Obligations: what an allowed subject sees of each column, and which rows.

The rules come from ``obligations.yaml`` (see its header for the steward's view). Resolution:
for each *granting* subject (the ``p.sub`` of every allow rule that matched) the most specific
applicable rule is chosen; per column, its action for the column's PII type applies; across
granting subjects the most restrictive action wins. Row filters of every applicable filter rule
are combined with AND. Anything that cannot be resolved raises ``ObligationError``: the decision
becomes a deny.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from governance.pdp.decision import (
    AccessRequest,
    ColumnObligation,
    ObligationAction,
    RowCondition,
    RowFilterOp,
)
from governance.pdp.sources import Finding, line_of
from governance.pii.types import NOT_PII, UNKNOWN

ANY = "*"
_REF_ROOTS = ("ctx", "subject", "resource")


class ObligationError(Exception):
    """The obligations of an allowed request cannot be resolved: deny."""


@dataclass(frozen=True)
class Vocabulary:
    """What the other policy files define, for cross-file checks."""

    subjects: frozenset[str]
    groups: frozenset[str]
    datasets: frozenset[str]
    purposes: frozenset[str]
    pii_types: frozenset[str]


@dataclass(frozen=True)
class ObligationRule:
    name: str
    roles: frozenset[str]
    purposes: frozenset[str]
    datasets: tuple[str, ...]
    actions: Mapping[str, ObligationAction]
    line: int = 0

    def applies(self, subject: str, purpose: str, dataset_match: Callable[[str], bool]) -> bool:
        return (
            (subject in self.roles or ANY in self.roles)
            and (purpose in self.purposes or ANY in self.purposes)
            and (not self.datasets or any(dataset_match(d) for d in self.datasets))
        )

    def specificity(self, purpose: str) -> int:
        return (2 if self.datasets else 0) + (1 if purpose in self.purposes else 0)


@dataclass(frozen=True)
class RowConditionSpec:
    column: str
    op: RowFilterOp
    value: Any = None
    ref: str | None = None


@dataclass(frozen=True)
class RowFilterRule:
    name: str
    roles: frozenset[str]
    purposes: frozenset[str]
    datasets: tuple[str, ...]
    where: tuple[RowConditionSpec, ...]
    line: int = 0

    def applies(
        self, granting: frozenset[str], purpose: str, dataset_match: Callable[[str], bool]
    ) -> bool:
        return (
            (ANY in self.roles or bool(self.roles & granting))
            and (purpose in self.purposes or ANY in self.purposes)
            and (not self.datasets or any(dataset_match(d) for d in self.datasets))
        )


@dataclass(frozen=True)
class ObligationPolicy:
    default_action: ObligationAction = ObligationAction.mask
    non_pii_action: ObligationAction = ObligationAction.keep
    rules: tuple[ObligationRule, ...] = ()
    row_filters: tuple[RowFilterRule, ...] = field(default_factory=tuple)

    def _default(self, pii_type: str) -> ObligationAction:
        return self.non_pii_action if pii_type == NOT_PII else self.default_action

    def _action(self, rule: ObligationRule | None, pii_type: str) -> ObligationAction:
        if rule is None:
            return self._default(pii_type)
        explicit = rule.actions.get(pii_type)
        if explicit is not None:
            return explicit
        if pii_type in (NOT_PII, UNKNOWN):
            return self._default(pii_type)
        return rule.actions.get(ANY, self.default_action)

    def choose_rule(
        self, subject: str, purpose: str, dataset_match: Callable[[str], bool]
    ) -> ObligationRule | None:
        best: ObligationRule | None = None
        for rule in self.rules:
            if rule.applies(subject, purpose, dataset_match) and (
                best is None or rule.specificity(purpose) > best.specificity(purpose)
            ):
                best = rule
        return best

    def resolve(
        self,
        *,
        granting: frozenset[str],
        request: AccessRequest,
        columns: Sequence[tuple[str, str]],
        dataset_match: Callable[[str], bool],
        known_columns: frozenset[str] | None,
    ) -> tuple[list[ColumnObligation], list[RowCondition] | None]:
        """Column obligations (in request order) and the row filter, or ``ObligationError``."""
        purpose = request.purpose
        chosen = [self.choose_rule(s, purpose, dataset_match) for s in sorted(granting)] or [None]
        obligations = []
        for column, pii_type in columns:
            action = max(
                (self._action(rule, pii_type) for rule in chosen), key=lambda a: a.strictness
            )
            obligations.append(ColumnObligation(column=column, pii_type=pii_type, action=action))
        conditions: list[RowCondition] = []
        for rule in self.row_filters:
            if not rule.applies(granting, purpose, dataset_match):
                continue
            for spec in rule.where:
                if known_columns is not None and spec.column not in known_columns:
                    raise ObligationError(
                        f"row filter {rule.name!r} needs column {spec.column}, "
                        f"which {request.resource.dataset} does not have"
                    )
                value = spec.value if spec.ref is None else _lookup(request, spec.ref, rule.name)
                conditions.append(RowCondition(column=spec.column, op=spec.op, value=value))
        return obligations, (conditions or None)


def _lookup(request: AccessRequest, ref: str, rule_name: str) -> Any:
    root, _, path = ref.partition(".")
    source: Any = {
        "ctx": request.context,
        "subject": request.subject.attributes,
        "resource": request.resource.attributes,
    }[root]
    for part in path.split("."):
        if not isinstance(source, Mapping) or part not in source:
            raise ObligationError(f"row filter {rule_name!r} needs request attribute {ref}")
        source = source[part]
    return source


# ---- parsing ---------------------------------------------------------------------------------


def _names(
    node: Any, key: str, display: str, findings: list[Finding], *, required: bool = True
) -> tuple[str, ...]:
    value = node.get(key)
    if value is None:
        if required:
            findings.append(Finding(display, line_of(node), "error", f"'{key}' is required"))
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        findings.append(
            Finding(display, line_of(node, key), "error", f"'{key}' must be a list of names")
        )
        return ()
    return tuple(value)


def _check_refs(
    node: Any,
    display: str,
    findings: list[Finding],
    vocab: Vocabulary,
    roles: Sequence[str],
    purposes: Sequence[str],
    datasets: Sequence[str],
) -> None:
    for role in roles:
        if role != ANY and role not in vocab.subjects:
            findings.append(
                Finding(
                    display,
                    line_of(node, "roles"),
                    "error",
                    f"role {role} is referenced but never defined in policy.csv",
                )
            )
    for purpose in purposes:
        if purpose != ANY and purpose not in vocab.purposes:
            findings.append(
                Finding(
                    display,
                    line_of(node, "purposes"),
                    "error",
                    f"purpose {purpose} is not in purposes.yaml",
                )
            )
    for ds in datasets:
        if "*" in ds or ds in vocab.groups or ds in vocab.datasets:
            continue
        findings.append(
            Finding(
                display,
                line_of(node, "datasets"),
                "error",
                f"dataset or group {ds} is referenced but never defined",
            )
        )


def parse_obligations(
    doc: Any, display: str, vocab: Vocabulary
) -> tuple[ObligationPolicy, list[Finding]]:
    findings: list[Finding] = []
    if not isinstance(doc, dict):
        findings.append(Finding(display, line_of(doc), "error", "expected a mapping"))
        return ObligationPolicy(), findings
    actions_known = {a.value for a in ObligationAction}

    def action(value: Any, line: int, what: str) -> ObligationAction:
        if str(value) not in actions_known:
            findings.append(
                Finding(
                    display,
                    line,
                    "error",
                    f"{what}: unknown action {value!r} (one of {', '.join(actions_known)})",
                )
            )
            return ObligationAction.drop
        return ObligationAction(str(value))

    default = action(doc.get("default_action", "mask"), line_of(doc, "default_action"), "default")
    non_pii = action(doc.get("non_pii_action", "keep"), line_of(doc, "non_pii_action"), "non_pii")
    rules: list[ObligationRule] = []
    for i, node in enumerate(doc.get("rules") or []):
        if not isinstance(node, dict):
            findings.append(Finding(display, line_of(doc, "rules"), "error", "rule must map"))
            continue
        name = str(node.get("name", f"rule {i + 1}"))
        roles = _names(node, "roles", display, findings)
        purposes = _names(node, "purposes", display, findings)
        datasets = _names(node, "datasets", display, findings, required=False)
        _check_refs(node, display, findings, vocab, roles, purposes, datasets)
        raw_actions = node.get("actions") or {}
        acts: dict[str, ObligationAction] = {}
        if not isinstance(raw_actions, dict):
            findings.append(Finding(display, line_of(node), "error", f"{name}: actions must map"))
            raw_actions = {}
        for pii_type, act in raw_actions.items():
            line = line_of(raw_actions, str(pii_type))
            if pii_type != ANY and pii_type not in vocab.pii_types:
                findings.append(
                    Finding(display, line, "error", f"{name}: unknown PII type {pii_type}")
                )
            acts[str(pii_type)] = action(act, line, name)
        rules.append(
            ObligationRule(
                name=name,
                roles=frozenset(roles),
                purposes=frozenset(purposes),
                datasets=datasets,
                actions=acts,
                line=line_of(node),
            )
        )
    filters: list[RowFilterRule] = []
    for i, node in enumerate(doc.get("row_filters") or []):
        if not isinstance(node, dict):
            findings.append(Finding(display, line_of(doc, "row_filters"), "error", "must map"))
            continue
        name = str(node.get("name", f"row filter {i + 1}"))
        roles = _names(node, "roles", display, findings)
        purposes = _names(node, "purposes", display, findings)
        datasets = _names(node, "datasets", display, findings, required=False)
        _check_refs(node, display, findings, vocab, roles, purposes, datasets)
        where: list[RowConditionSpec] = []
        for cond in node.get("where") or []:
            spec = _condition(cond, display, name, findings)
            if spec is not None:
                where.append(spec)
        if not where:
            findings.append(Finding(display, line_of(node), "error", f"{name}: empty 'where'"))
        filters.append(
            RowFilterRule(
                name=name,
                roles=frozenset(roles),
                purposes=frozenset(purposes),
                datasets=datasets,
                where=tuple(where),
                line=line_of(node),
            )
        )
    return ObligationPolicy(default, non_pii, tuple(rules), tuple(filters)), findings


def _condition(
    cond: Any, display: str, rule: str, findings: list[Finding]
) -> RowConditionSpec | None:
    line = line_of(cond)
    if not isinstance(cond, dict) or "column" not in cond or "op" not in cond:
        findings.append(Finding(display, line, "error", f"{rule}: a condition needs column, op"))
        return None
    try:
        op = RowFilterOp(str(cond["op"]))
    except ValueError:
        ops = ", ".join(o.value for o in RowFilterOp)
        findings.append(Finding(display, line, "error", f"{rule}: op must be one of {ops}"))
        return None
    value = cond.get("value")
    ref = None
    if isinstance(value, dict):
        ref = value.get("ref")
        if not isinstance(ref, str) or ref.split(".", 1)[0] not in _REF_ROOTS or "." not in ref:
            findings.append(
                Finding(
                    display, line, "error", f"{rule}: ref must be ctx.*, subject.* or resource.*"
                )
            )
            return None
        value = None
    if op in (RowFilterOp.in_, RowFilterOp.not_in) and ref is None and not isinstance(value, list):
        findings.append(Finding(display, line, "error", f"{rule}: '{op.value}' needs a list"))
        return None
    return RowConditionSpec(column=str(cond["column"]), op=op, value=value, ref=ref)
