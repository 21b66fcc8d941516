"""A policy bundle: every file of a policy directory, validated, versioned and compiled.

``analyse_policy_dir`` is the single validation used everywhere: ``governance policy check``,
start-up and hot reload. A directory loads if and only if it has no error finding.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import casbin
from casbin.util import key_match

from governance.errors import InvalidPolicy
from governance.pdp.catalog import Catalog, Purpose, parse_catalog, parse_purposes
from governance.pdp.declarations import Declarations, declaration_files, parse_declarations
from governance.pdp.enforcer import (
    FastEnforcer,
    Outcome,
    RoleGraph,
    UnsupportedModel,
    casbin_outcome,
)
from governance.pdp.linter import PolicyLines, lint_policy
from governance.pdp.modelcheck import check_model, model_load_error
from governance.pdp.obligations import ObligationPolicy, Vocabulary, parse_obligations
from governance.pdp.sources import Finding, SourceError, load_yaml, read_policy_lines
from governance.pii.specs import RecognizerFile, load_recognizer_dir
from governance.pii.types import PRESIDIO_ENTITIES, SPECIAL_TYPES

log = logging.getLogger(__name__)

MODEL = "model.conf"
POLICY = "policy.csv"
OBLIGATIONS = "obligations.yaml"
PURPOSES = "purposes.yaml"
CATALOG = "catalog.yaml"
PII_DIR = "pii"
REQUIRED = (MODEL, POLICY, OBLIGATIONS, PURPOSES)


def policy_files(directory: Path) -> list[Path]:
    """The files whose content defines a policy version (tests and docs are not part of it)."""
    files = [directory / name for name in (*REQUIRED, CATALOG) if (directory / name).is_file()]
    pii = directory / PII_DIR
    if pii.is_dir():
        files.extend(sorted(pii.glob("*.yaml")))
    files.extend(declaration_files(directory))
    return files


DATA_LINK = "..data"
"""Kubernetes ConfigMap layout: ``..data`` is a symlink to the current version's directory,
swapped atomically by one rename; the visible files are symlinks through it."""
TESTS_DIR = "tests"


def snapshot_dir(directory: Path) -> Path:
    """The directory one load reads every file from, resolved once.

    A ConfigMap-style ``..data`` link, or a policy directory that is itself a symlink swapped
    by rename, is followed here and only here: a load never mixes files of two versions."""
    data = directory / DATA_LINK
    if data.is_symlink() or data.is_dir():
        return data.resolve()
    return directory.resolve()


Fingerprint = tuple[tuple[str, int, int], ...]


def fingerprint(directory: Path) -> Fingerprint:
    """Cheap change detection: where the snapshot points, and name, size and mtime of each
    policy and test file in it (a test-only edit is a change: it may unblock a rejected one)."""
    snapshot = snapshot_dir(directory)
    out = [(str(snapshot), 0, 0)]
    tests = sorted((snapshot / TESTS_DIR).glob("*.yaml")) if (snapshot / TESTS_DIR).is_dir() else []
    for path in [*policy_files(snapshot), *tests]:
        try:
            st = path.stat()
        except OSError:
            continue
        out.append((str(path), st.st_size, st.st_mtime_ns))
    return tuple(out)


def version_of(contents: Mapping[str, bytes]) -> tuple[str, dict[str, str]]:
    digest = hashlib.sha256()
    manifest = {}
    for name in sorted(contents):
        data = contents[name]
        manifest[name] = hashlib.sha256(data).hexdigest()
        digest.update(name.encode() + b"\0" + manifest[name].encode() + b"\n")
    return digest.hexdigest(), manifest


REQUEST_FIELDS = ("sub", "obj", "ns", "act", "pur", "ctx")
"""What the service can put in a Casbin request; model.conf's request_definition picks from these."""


def new_enforcer(model: Path | str, policy: Path | str) -> casbin.Enforcer:
    """Casbin as the service uses it: a file model and a file policy, nothing registered."""
    return casbin.Enforcer(str(model), str(policy))


def namespace_pattern(dataset: str) -> str:
    """``crm/customers`` → ``crm/*``: how a whole namespace is named in g2 lines."""
    return dataset.split("/", 1)[0] + "/*"


@dataclass(frozen=True)
class PolicyBundle:
    """One loaded, validated policy version. Immutable: reloads build a new bundle."""

    directory: Path
    version: str
    files: Mapping[str, str]
    enforcer: casbin.Enforcer
    fast: FastEnforcer | None
    fast_disabled_reason: str | None
    catalog: Catalog
    purposes: Mapping[str, Purpose]
    obligations: ObligationPolicy
    lines: PolicyLines
    rule_lines: tuple[int, ...]
    pii_types: frozenset[str]
    recognizers: tuple[RecognizerFile, ...]
    subjects: RoleGraph
    datasets: RoleGraph
    request_fields: tuple[str, ...] = ("sub", "obj", "act", "pur", "ctx")
    known_subjects: frozenset[str] = frozenset()
    warnings: tuple[Finding, ...] = ()
    declarations: Declarations = field(default_factory=Declarations)
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def request_values(self, sub: str, obj: str, act: str, pur: str, ctx: Any) -> tuple[Any, ...]:
        """The Casbin request for these values, in the order model.conf declares."""
        values = {
            "sub": sub,
            "obj": obj,
            "ns": namespace_pattern(obj),
            "act": act,
            "pur": pur,
            "ctx": ctx,
        }
        return tuple(values[name] for name in self.request_fields)

    def pseudonym_domains(self) -> dict[str, str]:
        """Purpose -> pseudonym domain (``purposes.yaml``): tokens join within one domain."""
        return {name: p.domain for name, p in self.purposes.items()}

    def enforce(self, *rvals: Any) -> Outcome:
        """Casbin's answer, through the compiled path when the model allows it."""
        if self.fast is not None:
            return self.fast.enforce(*rvals)
        return casbin_outcome(self.enforcer, *rvals)

    def rule(self, index: int) -> list[str]:
        rules: list[list[str]] = self.enforcer.model["p"]["p"].policy
        return rules[index]

    def describe_rule(self, index: int) -> str:
        line = self.rule_lines[index] if index < len(self.rule_lines) else 0
        return f"policy.csv:{line}: p, {', '.join(self.rule(index))}"

    def dataset_groups(self, dataset: str) -> set[str]:
        """The dataset, its groups and its namespace's groups."""
        return self.datasets.ancestors(dataset) | self.datasets.ancestors(
            namespace_pattern(dataset)
        )

    def dataset_matcher(self, dataset: str) -> Callable[[str], bool]:
        """Does a rule's dataset entry (dataset, group or pattern) cover ``dataset``?"""
        groups = self.dataset_groups(dataset)
        return lambda entry: entry in groups or ("*" in entry and key_match(dataset, entry))

    def subject_roles(self, subject: str) -> set[str]:
        return self.subjects.ancestors(subject)

    def knows_subject(self, subject: str) -> bool:
        return subject in self.known_subjects


@dataclass(frozen=True)
class PolicyAnalysis:
    bundle: PolicyBundle | None
    findings: tuple[Finding, ...]
    version: str

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]


def analyse_policy_dir(directory: Path, *, fast_path: bool = True) -> PolicyAnalysis:
    """Load and check a policy directory; the bundle is None when there is any error."""
    directory = snapshot_dir(directory)
    findings: list[Finding] = []
    for name in REQUIRED:
        if not (directory / name).is_file():
            findings.append(Finding(name, 0, "error", "required policy file is missing"))
    if findings:
        return PolicyAnalysis(None, tuple(findings), "")
    contents = {str(p.relative_to(directory)): p.read_bytes() for p in policy_files(directory)}
    version, manifest = version_of(contents)

    docs: dict[str, Any] = {}
    for name in (OBLIGATIONS, PURPOSES, CATALOG):
        if (directory / name).is_file():
            try:
                docs[name] = load_yaml(directory / name, name)
            except SourceError as exc:
                findings.append(exc.finding)
    recognizer_files, problems = load_recognizer_dir(directory / PII_DIR, directory)
    findings.extend(problems)
    custom = frozenset(spec.entity for f in recognizer_files for spec in f.recognizers)
    pii_types = PRESIDIO_ENTITIES | SPECIAL_TYPES | custom

    purposes: dict[str, Purpose] = {}
    if PURPOSES in docs:
        purposes, problems = parse_purposes(docs[PURPOSES], PURPOSES)
        findings.extend(problems)
    catalog = Catalog({})
    if CATALOG in docs:
        catalog, problems = parse_catalog(docs[CATALOG], CATALOG, pii_types)
        findings.extend(problems)
        findings.extend(_cross_check_catalog(catalog, purposes))
    declarations, problems = parse_declarations(directory, pii_types)
    findings.extend(problems)
    findings.extend(_cross_check_purposes(purposes, declarations))

    enforcer: casbin.Enforcer | None = None
    try:
        enforcer = new_enforcer(directory / MODEL, directory / POLICY)
    except Exception as exc:
        findings.append(model_load_error(directory / MODEL, MODEL, exc))
    if enforcer is None:
        return PolicyAnalysis(None, tuple(sorted(findings)), version)
    model = enforcer.model
    model_problems = check_model(directory / MODEL, MODEL, model)
    if model_problems:
        findings.extend(model_problems)
        return PolicyAnalysis(None, tuple(sorted(findings)), version)
    r_tokens = list(model["r"]["r"].tokens)
    request_fields = tuple(t[2:] for t in r_tokens)
    unknown = [f for f in request_fields if f not in REQUEST_FIELDS]
    if unknown:
        findings.append(
            Finding(
                MODEL,
                0,
                "error",
                f"request_definition uses {', '.join(unknown)}; the service provides "
                f"{', '.join(REQUEST_FIELDS)}",
            )
        )
    p_tokens = list(model["p"]["p"].tokens)
    csv_lines = read_policy_lines(directory / POLICY)
    lines = lint_policy(
        csv_lines,
        POLICY,
        p_tokens=p_tokens,
        r_tokens=r_tokens,
        purposes=frozenset(purposes),
        datasets=frozenset(catalog.datasets),
    )
    findings.extend(lines.findings)

    vocab = Vocabulary(
        subjects=lines.subjects,
        groups=lines.groups,
        datasets=frozenset(catalog.datasets),
        purposes=frozenset(purposes),
        pii_types=pii_types,
    )
    obligations = ObligationPolicy()
    if OBLIGATIONS in docs:
        obligations, problems = parse_obligations(docs[OBLIGATIONS], OBLIGATIONS, vocab)
        findings.extend(problems)

    fast: FastEnforcer | None = None
    reason: str | None = None
    try:
        if not fast_path:
            raise UnsupportedModel("turned off by GOVERNANCE_PDP_FAST_PATH=false")
        fast = FastEnforcer(enforcer)
    except UnsupportedModel as exc:
        reason = str(exc)
        findings.append(
            Finding(MODEL, 0, "warning", f"decisions use plain Casbin (no fast path): {reason}")
        )

    p_lines = [c for c in csv_lines if c.tokens and c.tokens[0] == "p" and not c.error]
    rule_lines = _rule_lines(model["p"]["p"].policy, p_lines)
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        return PolicyAnalysis(None, tuple(sorted(findings)), version)
    g = model["g"] if "g" in model.keys() else {}
    bundle = PolicyBundle(
        directory=directory,
        version=version,
        files=manifest,
        enforcer=enforcer,
        fast=fast,
        fast_disabled_reason=reason,
        catalog=catalog,
        purposes=purposes,
        obligations=obligations,
        lines=lines,
        rule_lines=rule_lines,
        pii_types=pii_types,
        recognizers=tuple(recognizer_files),
        subjects=RoleGraph.from_role_manager(g["g"].rm if "g" in g else None),
        datasets=RoleGraph.from_role_manager(g["g2"].rm if "g2" in g else None),
        known_subjects=frozenset(
            {name for name in lines.subjects if not name.startswith("role:")}
            | {r.sub for r in lines.rules}
        ),
        warnings=tuple(sorted(findings)),
        request_fields=request_fields,
        declarations=declarations,
    )
    return PolicyAnalysis(bundle, tuple(sorted(findings)), version)


def _cross_check_catalog(catalog: Catalog, purposes: Mapping[str, Purpose]) -> list[Finding]:
    """What the catalog names from purposes.yaml: legal holds and pseudonym domains."""
    findings = []
    domains = {p.domain for p in purposes.values()}
    for info in catalog.datasets.values():
        hold = info.legal_hold
        if hold is not None:
            purpose = purposes.get(hold)
            if purpose is None or purpose.lawful_basis != "legal_obligation":
                findings.append(
                    Finding(
                        CATALOG,
                        info.line,
                        "error",
                        f"{info.name}: legal_hold {hold!r} must be a purpose with lawful basis "
                        "legal_obligation",
                    )
                )
        if info.source is not None:
            for kind, column in info.source.identifiers.items():
                if column.domain is not None and column.domain not in domains:
                    findings.append(
                        Finding(
                            CATALOG,
                            info.line,
                            "error",
                            f"{info.name}: identifier {kind} names pseudonym domain "
                            f"{column.domain!r}, which no purpose uses",
                        )
                    )
    return findings


def _cross_check_purposes(
    purposes: Mapping[str, Purpose], declarations: Declarations
) -> list[Finding]:
    """Declared data categories must be in the vocabulary (reports compare them with what
    the evidence shows)."""
    from governance.pdp.declarations import GDPR_CATEGORIES

    findings = []
    for purpose in purposes.values():
        for category in purpose.data_categories:
            if category not in GDPR_CATEGORIES:
                findings.append(
                    Finding(
                        PURPOSES,
                        purpose.line,
                        "error",
                        f"purpose {purpose.name}: unknown data category {category!r} (see "
                        "categories.yaml's vocabulary)",
                    )
                )
    return findings


def _rule_lines(rules: list[list[str]], p_lines: list[Any]) -> tuple[int, ...]:
    by_tokens: dict[tuple[str, ...], list[int]] = {}
    for c in p_lines:
        by_tokens.setdefault(tuple(c.tokens[1:]), []).append(c.line)
    out = []
    for rule in rules:
        bucket = by_tokens.get(tuple(rule))
        out.append(bucket.pop(0) if bucket else 0)
    return tuple(out)


def load_bundle(directory: Path) -> PolicyBundle:
    """A validated bundle, or ``InvalidPolicy`` listing every error as file:line: message."""
    analysis = analyse_policy_dir(directory)
    if analysis.bundle is None:
        errors = [str(f) for f in analysis.errors]
        raise InvalidPolicy(
            f"policy in {directory} does not load: {len(errors)} error(s); first: {errors[0]}",
            errors,
        )
    return analysis.bundle
