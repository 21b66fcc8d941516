"""The steward's catalog (datasets, columns, PII types) and the purposes of processing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from governance.pdp.decision import DATASET_RE, NAME_RE
from governance.pdp.sources import Finding, LocatedDict, line_of

LAWFUL_BASES = frozenset(
    {
        "consent",
        "contract",
        "legal_obligation",
        "vital_interests",
        "public_task",
        "legitimate_interests",
    }
)


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    owner: str
    channel: str
    columns: Mapping[str, str]
    line: int = 0
    column_lines: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Catalog:
    datasets: Mapping[str, DatasetInfo]

    def get(self, dataset: str) -> DatasetInfo | None:
        return self.datasets.get(dataset)


@dataclass(frozen=True)
class Purpose:
    name: str
    description: str
    lawful_basis: str
    retention_days: int
    ccpa_sale: bool
    line: int = 0
    pseudonym_domain: str = ""
    """Purposes sharing a domain get joinable pseudonyms; by default each is its own domain."""

    @property
    def domain(self) -> str:
        return self.pseudonym_domain or self.name


def parse_catalog(
    doc: Any, display: str, pii_types: frozenset[str]
) -> tuple[Catalog, list[Finding]]:
    findings: list[Finding] = []
    datasets: dict[str, DatasetInfo] = {}
    if doc is None:
        return Catalog({}), findings
    if not isinstance(doc, dict) or not isinstance(doc.get("datasets", {}), dict):
        findings.append(Finding(display, line_of(doc), "error", "expected a 'datasets:' mapping"))
        return Catalog({}), findings
    raw = doc.get("datasets") or {}
    for name, spec in raw.items():
        line = line_of(raw, name)
        if not DATASET_RE.match(str(name)):
            findings.append(Finding(display, line, "error", f"dataset {name!r} is not ns/name"))
            continue
        if not isinstance(spec, dict):
            findings.append(Finding(display, line, "error", f"dataset {name}: expected a mapping"))
            continue
        cols = spec.get("columns") or {}
        if not isinstance(cols, dict):
            findings.append(Finding(display, line, "error", f"{name}: 'columns' must map"))
            continue
        columns: dict[str, str] = {}
        lines: dict[str, int] = {}
        for col, pii in cols.items():
            col_line = line_of(cols, str(col))
            pii_type = str(pii)
            if pii_type not in pii_types:
                findings.append(
                    Finding(
                        display, col_line, "error", f"{name}.{col}: unknown PII type {pii_type}"
                    )
                )
            columns[str(col)] = pii_type
            lines[str(col)] = col_line
        datasets[str(name)] = DatasetInfo(
            name=str(name),
            owner=str(spec.get("owner", "")),
            channel=str(spec.get("channel", "")),
            columns=columns,
            line=line,
            column_lines=lines,
        )
    return Catalog(datasets), findings


def parse_purposes(doc: Any, display: str) -> tuple[dict[str, Purpose], list[Finding]]:
    findings: list[Finding] = []
    purposes: dict[str, Purpose] = {}
    if not isinstance(doc, dict) or not isinstance(doc.get("purposes"), dict):
        findings.append(Finding(display, line_of(doc), "error", "expected a 'purposes:' mapping"))
        return purposes, findings
    raw: LocatedDict = doc["purposes"]
    for name, spec in raw.items():
        line = line_of(raw, name)
        if not NAME_RE.match(str(name)):
            findings.append(Finding(display, line, "error", f"purpose {name!r}: bad name"))
            continue
        spec = spec or {}
        if not isinstance(spec, dict):
            findings.append(Finding(display, line, "error", f"purpose {name}: expected a mapping"))
            continue
        basis = str(spec.get("lawful_basis", ""))
        if basis not in LAWFUL_BASES:
            findings.append(
                Finding(
                    display,
                    line_of(spec, "lawful_basis") or line,
                    "error",
                    f"purpose {name}: lawful_basis must be one of {', '.join(sorted(LAWFUL_BASES))}",
                )
            )
        retention = spec.get("retention_days", 0)
        if not isinstance(retention, int) or retention <= 0:
            findings.append(
                Finding(display, line, "error", f"purpose {name}: retention_days must be > 0")
            )
            retention = 0
        domain = str(spec.get("pseudonym_domain") or "")
        if domain and not NAME_RE.match(domain):
            findings.append(
                Finding(
                    display,
                    line_of(spec, "pseudonym_domain") or line,
                    "error",
                    f"purpose {name}: bad pseudonym_domain {domain!r}",
                )
            )
            domain = ""
        purposes[str(name)] = Purpose(
            name=str(name),
            description=str(spec.get("description", "")),
            lawful_basis=basis,
            retention_days=retention,
            ccpa_sale=bool(spec.get("ccpa_sale", False)),
            line=line,
            pseudonym_domain=domain,
        )
    return purposes, findings
