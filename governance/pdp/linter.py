"""Checks of ``policy.csv`` beyond what Casbin itself rejects, each reported as file:line.

Errors: malformed lines, unknown rule types, wrong field counts, subjects or effects of the wrong
form, conditions that do not parse or use unknown names, roles and groups referenced but never
defined, purposes not in purposes.yaml, patterns where Casbin's role manager takes names,
duplicate rules and rules shadowed by an unconditional rule.
Warnings: datasets not in the catalog, roles and groups defined but never used.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass

from governance.pdp.conditions import condition_source
from governance.pdp.decision import DATASET_RE, NAME_RE, SUBJECT_RE
from governance.pdp.enforcer import RoleGraph
from governance.pdp.sources import CsvLine, Finding

UNCONDITIONAL = "True"
_NAMESPACE_RE = re.compile(r"^[^/*\s]+/\*$")


@dataclass(frozen=True)
class Rule:
    line: int
    sub: str
    obj: str
    act: str
    pur: str
    cond: str
    eft: str


@dataclass(frozen=True)
class PolicyLines:
    """policy.csv split into rules and links, with what the linter found."""

    rules: tuple[Rule, ...]
    subject_links: tuple[tuple[str, str, int], ...]
    dataset_links: tuple[tuple[str, str, int], ...]
    findings: tuple[Finding, ...]

    @property
    def groups(self) -> frozenset[str]:
        return frozenset(g for _, g, _ in self.dataset_links) | frozenset(
            m for m, _, _ in self.dataset_links if m.startswith("group:")
        )

    @property
    def subjects(self) -> frozenset[str]:
        names = {a for a, _, _ in self.subject_links} | {b for _, b, _ in self.subject_links}
        return frozenset(names | {r.sub for r in self.rules})


def _graph(links: Sequence[tuple[str, str, int]]) -> RoleGraph:
    parents: dict[str, list[str]] = {}
    for child, parent, _ in links:
        parents.setdefault(child, []).append(parent)
    return RoleGraph({k: tuple(v) for k, v in parents.items()})


def _covers_obj(general: str, specific: str, datasets: RoleGraph) -> bool:
    if general == specific:
        return True
    star = general.find("*")
    if star != -1:
        prefix = general[:star]
        spec_star = specific.find("*")
        target = specific[:spec_star] if spec_star != -1 else specific
        return target.startswith(prefix) and not specific.startswith("group:")
    if "*" in specific:
        return False
    groups = datasets.ancestors(specific)
    if not specific.startswith("group:"):
        groups |= datasets.ancestors(specific.split("/", 1)[0] + "/*")
    return general in groups


def _check_condition(cond: str, line: int, display: str, names: frozenset[str]) -> list[Finding]:
    try:
        parsed = ast.parse(condition_source(cond).strip())
        if len(parsed.body) != 1 or not isinstance(parsed.body[0], ast.Expr):
            raise SyntaxError("not a single expression")
    except SyntaxError as exc:
        return [Finding(display, line, "error", f"condition does not parse: {exc.msg}")]
    out = []
    for node in ast.walk(parsed):
        if isinstance(node, ast.Name) and node.id not in names:
            hint = " (write True/False)" if node.id in ("true", "false") else ""
            out.append(
                Finding(display, line, "error", f"condition uses unknown name {node.id}{hint}")
            )
    return out


def lint_policy(
    lines: Sequence[CsvLine],
    display: str,
    *,
    p_tokens: Sequence[str],
    r_tokens: Sequence[str],
    purposes: frozenset[str],
    datasets: frozenset[str],
) -> PolicyLines:
    findings: list[Finding] = []
    rules: list[Rule] = []
    subject_links: list[tuple[str, str, int]] = []
    dataset_links: list[tuple[str, str, int]] = []
    seen: dict[tuple[str, ...], int] = {}
    names = frozenset(r_tokens) | frozenset(p_tokens)
    for csv in lines:
        if csv.error:
            findings.append(Finding(display, csv.line, "error", csv.error))
            continue
        kind, fields = csv.tokens[0], csv.tokens[1:]
        if csv.tokens in seen:
            findings.append(
                Finding(display, csv.line, "error", f"duplicate of line {seen[csv.tokens]}")
            )
            continue
        seen[csv.tokens] = csv.line
        if kind == "p":
            if len(fields) != len(p_tokens):
                findings.append(
                    Finding(
                        display,
                        csv.line,
                        "error",
                        f"a rule has {len(p_tokens)} fields ({', '.join(t[2:] for t in p_tokens)}),"
                        f" this one has {len(fields)}",
                    )
                )
                continue
            rule = Rule(csv.line, *fields)
            findings.extend(_check_rule(rule, display, names, purposes))
            rules.append(rule)
        elif kind in ("g", "g2"):
            if len(fields) != 2:
                findings.append(
                    Finding(display, csv.line, "error", f"{kind} takes 2 fields, not {len(fields)}")
                )
                continue
            child, parent = fields
            problems = _check_link(kind, child, parent)
            findings.extend(Finding(display, csv.line, "error", p) for p in problems)
            if not problems:
                (subject_links if kind == "g" else dataset_links).append((child, parent, csv.line))
        else:
            findings.append(Finding(display, csv.line, "error", f"unknown rule type {kind!r}"))
    subjects_graph = _graph(subject_links)
    datasets_graph = _graph(dataset_links)
    defined_roles = {b for _, b, _ in subject_links} | {a for a, _, _ in subject_links}
    defined_groups = {g for _, g, _ in dataset_links}
    for rule in rules:
        if rule.sub.startswith("role:") and rule.sub not in defined_roles:
            findings.append(
                Finding(
                    display,
                    rule.line,
                    "error",
                    f"role {rule.sub} is referenced but never defined (no g line names it)",
                )
            )
        if rule.obj.startswith("group:") and rule.obj not in defined_groups:
            findings.append(
                Finding(
                    display,
                    rule.line,
                    "error",
                    f"group {rule.obj} is referenced but never defined (no g2 line names it)",
                )
            )
        elif (
            DATASET_RE.fullmatch(rule.obj)
            and "*" not in rule.obj
            and datasets
            and rule.obj not in datasets
        ):
            findings.append(
                Finding(display, rule.line, "warning", f"dataset {rule.obj} is not in catalog.yaml")
            )
    for child, _group, line in dataset_links:
        if child.startswith("group:") and child not in defined_groups:
            findings.append(
                Finding(display, line, "error", f"group {child} is nested but never defined")
            )
    used = {r.sub for r in rules}
    for role in sorted(defined_roles):
        if (
            role.startswith("role:")
            and not (subjects_graph.ancestors(role) & used)
            and not any(role in subjects_graph.ancestors(s) for s in used)
        ):
            line = next(ln for a, b, ln in subject_links if role in (a, b))
            findings.append(Finding(display, line, "warning", f"role {role} grants nothing"))
    findings.extend(_shadowing(rules, display, subjects_graph, datasets_graph))
    return PolicyLines(tuple(rules), tuple(subject_links), tuple(dataset_links), tuple(findings))


def _check_rule(
    rule: Rule, display: str, names: frozenset[str], purposes: frozenset[str]
) -> list[Finding]:
    out: list[Finding] = []

    def err(msg: str) -> None:
        out.append(Finding(display, rule.line, "error", msg))

    if not SUBJECT_RE.fullmatch(rule.sub):
        err(f"subject {rule.sub!r} must look like user:NAME, service:NAME or role:NAME")
    if not (
        rule.obj.startswith("group:")
        or DATASET_RE.fullmatch(rule.obj)
        or (rule.obj.endswith("*") and rule.obj.count("*") == 1)
    ):
        err(f"object {rule.obj!r} must be ns/name, group:NAME or a pattern ending in *")
    elif "*" in rule.obj and not rule.obj.endswith("*"):
        err(f"object {rule.obj!r}: a pattern has one * at its end")
    if rule.act != "*" and not NAME_RE.fullmatch(rule.act):
        err(f"action {rule.act!r} is not a name")
    if rule.pur != "*" and rule.pur not in purposes:
        err(f"purpose {rule.pur} is not in purposes.yaml")
    if rule.eft not in ("allow", "deny"):
        err(f"effect must be allow or deny, not {rule.eft!r}")
    out.extend(_check_condition(rule.cond, rule.line, display, names))
    return out


def _check_link(kind: str, child: str, parent: str) -> list[str]:
    problems = []
    if "*" in parent:
        problems.append(f"{kind}: the group or role ({parent}) cannot be a pattern")
    if kind == "g":
        if "*" in child:
            problems.append("g: patterns are not supported for subjects")
        for name in (child, parent):
            if not SUBJECT_RE.fullmatch(name):
                problems.append(f"g: {name!r} must look like user:, service: or role:")
        if not parent.startswith("role:"):
            problems.append(f"g: {parent} must be a role (role:NAME)")
    else:
        if not parent.startswith("group:"):
            problems.append(f"g2: {parent} must be a group (group:NAME)")
        if "*" in child and not _NAMESPACE_RE.fullmatch(child):
            problems.append(f"g2: {child!r}: a whole namespace is written NAMESPACE/*")
        elif not (child.startswith("group:") or DATASET_RE.fullmatch(child)):
            problems.append(f"g2: {child!r} must be ns/name, NAMESPACE/* or a group")
    return problems


def _shadowing(
    rules: Sequence[Rule], display: str, subjects: RoleGraph, datasets: RoleGraph
) -> list[Finding]:
    out: list[Finding] = []
    unconditional: dict[str, list[tuple[int, Rule]]] = {}
    for i, a in enumerate(rules):
        if a.cond == UNCONDITIONAL:
            unconditional.setdefault(a.sub, []).append((i, a))
    for j, b in enumerate(rules):
        candidates = sorted(
            (pair for role in subjects.ancestors(b.sub) for pair in unconditional.get(role, ())),
            key=lambda pair: pair[0],
        )
        for i, a in candidates:
            if i == j:
                continue
            covers = (
                _covers_obj(a.obj, b.obj, datasets)
                and a.act in ("*", b.act)
                and a.pur in ("*", b.pur)
            )
            if not covers:
                continue
            if a.eft == "deny" and b.eft == "allow":
                out.append(
                    Finding(
                        display,
                        b.line,
                        "error",
                        f"shadowed: the deny on line {a.line} always applies, so this allow never does",
                    )
                )
                break
            if a.eft == b.eft:
                mutual = (
                    b.cond == UNCONDITIONAL
                    and b.sub in subjects.ancestors(a.sub)
                    and _covers_obj(b.obj, a.obj, datasets)
                    and b.act in ("*", a.act)
                    and b.pur in ("*", a.pur)
                )
                if mutual and j < i:
                    continue  # equivalent rules: report only the later one
                out.append(
                    Finding(
                        display,
                        b.line,
                        "error",
                        f"shadowed: line {a.line} already {a.eft}s everything this rule covers",
                    )
                )
                break
    return out
