"""The steward's catalog (datasets, columns, PII types, where data lives, how data subjects
are identified) and the purposes of processing."""

from __future__ import annotations

import re
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


IDENTIFIER_TRANSFORMS = frozenset({"pseudonymize", "hash", "encrypt"})
CONNECTION_RE = re.compile(r"^[A-Z_][A-Z0-9_]*$")
SQL_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


@dataclass(frozen=True)
class IdentifierKind:
    """How data subjects are identified (``customer_id``, ``email``, ``phone``)."""

    name: str
    pii_type: str
    pattern: str | None = None


DEFAULT_IDENTIFIERS: Mapping[str, IdentifierKind] = {
    "customer_id": IdentifierKind("customer_id", "CUSTOMER_ID"),
    "email": IdentifierKind("email", "EMAIL_ADDRESS"),
    "phone": IdentifierKind("phone", "PHONE_NUMBER"),
}


@dataclass(frozen=True)
class IdentifierColumn:
    """A column holding a subject identifier: as is, or transformed (a pseudonym of
    ``domain``, a keyed hash, or a bound encryption token) as the obligations left it."""

    column: str
    transform: str | None = None
    domain: str | None = None


@dataclass(frozen=True)
class SourceSpec:
    """Where a dataset lives: the NAME of an environment variable holding a SQLAlchemy URL
    (a password never sits in a policy file), a table, the column that identifies a row, and
    the columns that identify data subjects."""

    connection: str
    table: str
    key: str
    identifiers: Mapping[str, IdentifierColumn]


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    owner: str
    channel: str
    columns: Mapping[str, str]
    line: int = 0
    column_lines: Mapping[str, int] = field(default_factory=dict)
    source: SourceSpec | None = None
    legal_hold: str | None = None
    """A purpose (lawful basis legal_obligation) for which rows must be kept: erasure then
    pseudonymizes them irreversibly instead of deleting them."""


@dataclass(frozen=True)
class Catalog:
    datasets: Mapping[str, DatasetInfo]
    identifiers: Mapping[str, IdentifierKind] = field(
        default_factory=lambda: dict(DEFAULT_IDENTIFIERS)
    )
    locations: Mapping[str, str] = field(default_factory=dict)
    """Namespace → ISO country where its data is stored (transfers are judged by it)."""

    def country_of(self, dataset: str) -> str | None:
        return self.locations.get(dataset.split("/", 1)[0])

    def get(self, dataset: str) -> DatasetInfo | None:
        return self.datasets.get(dataset)

    def sources(self) -> dict[str, SourceSpec]:
        """Datasets that declare where they live."""
        return {n: d.source for n, d in self.datasets.items() if d.source is not None}


@dataclass(frozen=True)
class Transfer:
    """A transfer to a third country (GDPR Art. 30(1)(e), Chapter V) and its safeguard."""

    country: str
    safeguard: str


@dataclass(frozen=True)
class Purpose:
    name: str
    description: str
    lawful_basis: str
    retention_days: int
    ccpa_sale: bool
    line: int = 0
    ccpa_share: bool = False
    pseudonym_domain: str = ""
    """Purposes sharing a domain get joinable pseudonyms; by default each is its own domain."""
    data_subjects: tuple[str, ...] = ()
    data_categories: tuple[str, ...] = ()
    """GDPR data categories declared (keys of ``declarations.GDPR_CATEGORIES``)."""
    recipients: tuple[str, ...] = ()
    transfers: tuple[Transfer, ...] = ()
    security: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    """The datasets declared for the purpose (``ns/name``, ``ns/*``, ``group:…``); empty means
    none declared, and the record of processing says so."""

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
    identifiers, problems = _parse_identifiers(
        (doc.get("subjects") or {}).get("identifiers")
        if isinstance(doc.get("subjects"), dict)
        else None,
        display,
        pii_types,
    )
    findings.extend(problems)
    raw = doc.get("datasets") or {}
    for name, spec in raw.items():
        line = line_of(raw, name)
        if not DATASET_RE.fullmatch(str(name)):
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
        source = None
        if spec.get("source") is not None:
            source, problems = _parse_source(spec["source"], display, str(name), set(identifiers))
            findings.extend(problems)
        hold = spec.get("legal_hold")
        datasets[str(name)] = DatasetInfo(
            name=str(name),
            owner=str(spec.get("owner", "")),
            channel=str(spec.get("channel", "")),
            columns=columns,
            line=line,
            column_lines=lines,
            source=source,
            legal_hold=str(hold) if hold else None,
        )
    locations: dict[str, str] = {}
    raw_locations = doc.get("locations") or {}
    if not isinstance(raw_locations, dict):
        findings.append(
            Finding(display, line_of(doc, "locations"), "error", "'locations' maps namespaces")
        )
        raw_locations = {}
    for namespace, country in raw_locations.items():
        code = str(country).upper()
        if len(code) != 2 or not code.isalpha():
            findings.append(
                Finding(
                    display,
                    line_of(raw_locations, str(namespace)),
                    "error",
                    f"locations.{namespace}: an ISO 3166 country code, not {country!r}",
                )
            )
            continue
        locations[str(namespace)] = code
    return Catalog(datasets, identifiers, locations), findings


def _parse_identifiers(
    node: Any, display: str, pii_types: frozenset[str]
) -> tuple[dict[str, IdentifierKind], list[Finding]]:
    findings: list[Finding] = []
    if node is None:
        return dict(DEFAULT_IDENTIFIERS), findings
    if not isinstance(node, dict):
        findings.append(Finding(display, line_of(node), "error", "'identifiers' must map"))
        return dict(DEFAULT_IDENTIFIERS), findings
    out: dict[str, IdentifierKind] = {}
    for kind, spec in node.items():
        line = line_of(node, str(kind))
        if not NAME_RE.fullmatch(str(kind)) or not isinstance(spec, dict):
            findings.append(Finding(display, line, "error", f"identifier {kind!r}: bad entry"))
            continue
        pii_type = str(spec.get("pii_type", ""))
        if pii_type not in pii_types:
            findings.append(
                Finding(display, line, "error", f"identifier {kind}: unknown PII type {pii_type!r}")
            )
        pattern = spec.get("pattern")
        if pattern is not None:
            try:
                re.compile(str(pattern))
            except re.error as exc:
                findings.append(
                    Finding(display, line, "error", f"identifier {kind}: bad pattern ({exc})")
                )
                pattern = None
        out[str(kind)] = IdentifierKind(str(kind), pii_type, str(pattern) if pattern else None)
    return out, findings


def _parse_source(
    node: Any, display: str, dataset: str, kinds: set[str]
) -> tuple[SourceSpec | None, list[Finding]]:
    findings: list[Finding] = []
    line = line_of(node)

    def bad(message: str, key: str | None = None) -> None:
        findings.append(
            Finding(display, line_of(node, key) if key else line, "error", f"{dataset}: {message}")
        )

    if not isinstance(node, dict):
        bad("'source' must be a mapping (connection, table, key, identifiers)")
        return None, findings
    connection = str(node.get("connection", ""))
    if not CONNECTION_RE.fullmatch(connection):
        bad(
            "source.connection is the NAME of an environment variable holding the URL "
            "(like RETAIL_DB_URL), never a URL",
            "connection",
        )
    table, key = str(node.get("table", "")), str(node.get("key", ""))
    if not SQL_NAME_RE.fullmatch(table):
        bad(f"source.table {table!r} is not a table name", "table")
    if not SQL_NAME_RE.fullmatch(key):
        bad(f"source.key {key!r} is not a column name", "key")
    raw = node.get("identifiers") or {}
    identifiers: dict[str, IdentifierColumn] = {}
    if not isinstance(raw, dict) or not raw:
        bad("source.identifiers must map identifier kinds to columns", "identifiers")
        raw = {}
    for kind, spec in raw.items():
        if str(kind) not in kinds:
            bad(f"source.identifiers: unknown identifier kind {kind!r}", "identifiers")
            continue
        if isinstance(spec, str):
            spec = {"column": spec}
        if not isinstance(spec, dict) or not SQL_NAME_RE.fullmatch(str(spec.get("column", ""))):
            bad(f"source.identifiers.{kind}: expected a column name", "identifiers")
            continue
        transform = spec.get("transform")
        if transform is not None and str(transform) not in IDENTIFIER_TRANSFORMS:
            bad(
                f"source.identifiers.{kind}.transform must be one of "
                f"{', '.join(sorted(IDENTIFIER_TRANSFORMS))}",
                "identifiers",
            )
            transform = None
        domain = spec.get("pseudonym_domain")
        identifiers[str(kind)] = IdentifierColumn(
            str(spec["column"]),
            str(transform) if transform else None,
            str(domain) if domain else None,
        )
    if findings:
        return None, findings
    return SourceSpec(connection, table, key, identifiers), findings


def parse_purposes(doc: Any, display: str) -> tuple[dict[str, Purpose], list[Finding]]:
    findings: list[Finding] = []
    purposes: dict[str, Purpose] = {}
    if not isinstance(doc, dict) or not isinstance(doc.get("purposes"), dict):
        findings.append(Finding(display, line_of(doc), "error", "expected a 'purposes:' mapping"))
        return purposes, findings
    raw: LocatedDict = doc["purposes"]
    for name, spec in raw.items():
        line = line_of(raw, name)
        if not NAME_RE.fullmatch(str(name)):
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
        if domain and not NAME_RE.fullmatch(domain):
            findings.append(
                Finding(
                    display,
                    line_of(spec, "pseudonym_domain") or line,
                    "error",
                    f"purpose {name}: bad pseudonym_domain {domain!r}",
                )
            )
            domain = ""
        transfers: list[Transfer] = []
        for item in spec.get("transfers") or []:
            if not isinstance(item, dict) or len(str(item.get("country", ""))) != 2:
                findings.append(
                    Finding(
                        display,
                        line_of(spec, "transfers") or line,
                        "error",
                        f"purpose {name}: a transfer is {{country: ISO code, safeguard: …}}",
                    )
                )
                continue
            transfers.append(
                Transfer(str(item["country"]).upper(), str(item.get("safeguard") or ""))
            )
        lists: dict[str, tuple[str, ...]] = {}
        for key in ("data_subjects", "data_categories", "recipients", "security", "datasets"):
            value = spec.get(key) or []
            if not isinstance(value, list):
                findings.append(
                    Finding(display, line_of(spec, key) or line, "error", f"{name}.{key}: a list")
                )
                value = []
            lists[key] = tuple(str(v) for v in value)
        purposes[str(name)] = Purpose(
            name=str(name),
            description=str(spec.get("description", "")),
            lawful_basis=basis,
            retention_days=retention,
            ccpa_sale=bool(spec.get("ccpa_sale", False)),
            ccpa_share=bool(spec.get("ccpa_share", False)),
            line=line,
            pseudonym_domain=domain,
            transfers=tuple(transfers),
            **lists,
        )
    return purposes, findings
