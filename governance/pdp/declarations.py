"""What only people know, declared by stewards beside the policy, for the compliance reports.

* ``categories.yaml``: every PII type's GDPR data category and CCPA category, in a documented
  vocabulary (``GDPR_CATEGORIES``, modelled on Fideslang's data categories and the W3C Data
  Privacy Vocabulary; ``CCPA_CATEGORIES``, Cal. Civ. Code §1798.140(v)(1) (A) to (L)), and
  whether it is a special category (GDPR Art. 9) or sensitive personal information (CCPA
  §1798.140(ae)).
* ``controller.yaml``: the controller, its contact, its DPO, its representative, and where it
  is established (the home of "transfers").
* ``models/*.yaml``: per model, what evidence cannot show: intended use, known limits, the
  bias examination done.

Every problem is a ``Finding`` with its file and line, like the rest of the policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from governance.pdp.sources import Finding, SourceError, line_of, load_yaml

# GDPR data categories (keys in the style of Fideslang's ``user.*`` taxonomy)
GDPR_CATEGORIES: Mapping[str, str] = {
    "user.name": "Name",
    "user.contact.email": "E-mail address",
    "user.contact.phone_number": "Telephone number",
    "user.contact.address": "Postal address",
    "user.unique_id": "Customer and account identifiers",
    "user.financial.bank_account": "Bank account details",
    "user.financial.credit_card": "Payment card details",
    "user.government_id": "Government identifiers (SSN, passport, driving licence)",
    "user.demographic.date_of_birth": "Date of birth",
    "user.device.ip_address": "IP address and device identifiers",
    "user.location": "Location",
    "user.behavior.browsing_history": "Browsing and app activity",
    "user.behavior.purchase_history": "Purchase history",
    "user.content": "Free-text content written by or about the person",
    "user.health_and_medical": "Health data (special category, Art. 9)",
    "user.demographic.racial_ethnic_origin": "Racial or ethnic origin (special category)",
    "user.demographic.political_opinion": "Political opinions (special category)",
    "user.demographic.religious_belief": "Religious beliefs (special category)",
    "user.biometric": "Biometric data (special category)",
    "user.other": "Other personal data",
}

# CCPA categories of personal information, Cal. Civ. Code §1798.140(v)(1)
CCPA_CATEGORIES: Mapping[str, str] = {
    "identifiers": "(A) Identifiers",
    "customer_records": "(B) Customer records (§1798.80(e))",
    "protected_classifications": "(C) Characteristics of protected classifications",
    "commercial_information": "(D) Commercial information",
    "biometric_information": "(E) Biometric information",
    "internet_activity": "(F) Internet or other electronic network activity",
    "geolocation": "(G) Geolocation data",
    "sensory_data": "(H) Audio, electronic, visual or similar information",
    "professional_information": "(I) Professional or employment-related information",
    "education_information": "(J) Education information",
    "inferences": "(K) Inferences drawn to create a profile",
    "sensitive_personal_information": "(L) Sensitive personal information",
}

CATEGORIES = "categories.yaml"
CONTROLLER = "controller.yaml"
MODELS_DIR = "models"


@dataclass(frozen=True)
class CategoryMapping:
    pii_type: str
    gdpr: str
    ccpa: str
    special: bool = False
    """GDPR Art. 9 special category, or CCPA sensitive personal information."""


@dataclass(frozen=True)
class Controller:
    name: str = ""
    address: str = ""
    contact: str = ""
    dpo_name: str = ""
    dpo_contact: str = ""
    representative: str = ""
    country: str = ""
    """ISO 3166 code of the establishment: processing in another country is a transfer."""
    adequate: tuple[str, ...] = ()
    """Countries whose data protection the controller's law deems adequate (no safeguard
    needed): the EEA and adequacy decisions, for an EU controller."""


@dataclass(frozen=True)
class ModelCard:
    model: str  # ns/name of the model dataset
    file: str
    intended_use: str = ""
    limitations: str = ""
    bias_examination: Mapping[str, Any] = field(default_factory=dict)
    design_choices: str = ""
    assumptions: str = ""
    owner: str = ""


@dataclass(frozen=True)
class Declarations:
    categories: Mapping[str, CategoryMapping] = field(default_factory=dict)
    controller: Controller = field(default_factory=Controller)
    models: Mapping[str, ModelCard] = field(default_factory=dict)

    def category(self, pii_type: str) -> CategoryMapping | None:
        return self.categories.get(pii_type)


EEA = [
    "AT",
    "BE",
    "BG",
    "HR",
    "CY",
    "CZ",
    "DK",
    "EE",
    "FI",
    "FR",
    "DE",
    "GR",
    "HU",
    "IE",
    "IT",
    "LV",
    "LT",
    "LU",
    "MT",
    "NL",
    "PL",
    "PT",
    "RO",
    "SK",
    "SI",
    "ES",
    "SE",
    "IS",
    "LI",
    "NO",
]


def declaration_files(directory: Path) -> list[Path]:
    """The declaration files of a policy directory (part of its version)."""
    files = [directory / n for n in (CATEGORIES, CONTROLLER) if (directory / n).is_file()]
    models = directory / MODELS_DIR
    if models.is_dir():
        files.extend(sorted(models.glob("*.yaml")))
    return files


def _text(node: Mapping[str, Any], key: str) -> str:
    value = node.get(key, "")
    return "" if value is None else str(value).strip()


def parse_declarations(
    directory: Path, pii_types: frozenset[str]
) -> tuple[Declarations, list[Finding]]:
    findings: list[Finding] = []
    categories: dict[str, CategoryMapping] = {}
    path = directory / CATEGORIES
    if path.is_file():
        try:
            doc = load_yaml(path, CATEGORIES) or {}
        except SourceError as exc:
            doc = {}
            findings.append(exc.finding)
        raw = doc.get("pii_types") if isinstance(doc, dict) else None
        if not isinstance(raw, dict):
            findings.append(Finding(CATEGORIES, line_of(doc), "error", "expected 'pii_types:'"))
            raw = {}
        for pii_type, spec in raw.items():
            line = line_of(raw, str(pii_type))
            if not isinstance(spec, dict):
                findings.append(Finding(CATEGORIES, line, "error", f"{pii_type}: expected a map"))
                continue
            if str(pii_type) not in pii_types:
                findings.append(
                    Finding(CATEGORIES, line, "warning", f"{pii_type} is not a known PII type")
                )
            gdpr, ccpa = _text(spec, "gdpr"), _text(spec, "ccpa")
            if gdpr not in GDPR_CATEGORIES:
                findings.append(
                    Finding(
                        CATEGORIES, line, "error", f"{pii_type}: unknown GDPR category {gdpr!r}"
                    )
                )
            if ccpa not in CCPA_CATEGORIES:
                findings.append(
                    Finding(
                        CATEGORIES, line, "error", f"{pii_type}: unknown CCPA category {ccpa!r}"
                    )
                )
            categories[str(pii_type)] = CategoryMapping(
                str(pii_type), gdpr, ccpa, bool(spec.get("special", False))
            )
        for missing in sorted(pii_types - set(categories) - {"NONE", "UNKNOWN"}):
            findings.append(
                Finding(
                    CATEGORIES,
                    0,
                    "error",
                    f"PII type {missing} has no category: reports could not say what it is",
                )
            )
    controller = Controller()
    path = directory / CONTROLLER
    if path.is_file():
        try:
            doc = load_yaml(path, CONTROLLER) or {}
        except SourceError as exc:
            doc = {}
            findings.append(exc.finding)
        if not isinstance(doc, dict) or not _text(doc, "name"):
            findings.append(
                Finding(CONTROLLER, line_of(doc), "error", "the controller needs a 'name'")
            )
            doc = doc if isinstance(doc, dict) else {}
        dpo = doc.get("dpo") or {}
        country = _text(doc, "country").upper()
        if country and len(country) != 2:
            findings.append(
                Finding(CONTROLLER, line_of(doc, "country"), "error", "country: an ISO 3166 code")
            )
        adequate = doc.get("adequate_countries") or []
        controller = Controller(
            name=_text(doc, "name"),
            address=_text(doc, "address"),
            contact=_text(doc, "contact"),
            dpo_name=_text(dpo, "name") if isinstance(dpo, dict) else "",
            dpo_contact=_text(dpo, "contact") if isinstance(dpo, dict) else "",
            representative=_text(doc, "representative"),
            country=country,
            adequate=tuple(str(c).upper() for c in adequate),
        )
    models: dict[str, ModelCard] = {}
    folder = directory / MODELS_DIR
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        display = f"{MODELS_DIR}/{path.name}"
        try:
            doc = load_yaml(path, display) or {}
        except SourceError as exc:
            findings.append(exc.finding)
            continue
        if not isinstance(doc, dict) or "/" not in _text(doc, "model"):
            findings.append(
                Finding(display, line_of(doc), "error", "expected 'model: ns/name' of the model")
            )
            continue
        bias = doc.get("bias_examination") or {}
        if not isinstance(bias, dict):
            findings.append(
                Finding(display, line_of(doc, "bias_examination"), "error", "expected a map")
            )
            bias = {}
        card = ModelCard(
            model=_text(doc, "model"),
            file=display,
            intended_use=_text(doc, "intended_use"),
            limitations=_text(doc, "limitations"),
            bias_examination={str(k): v for k, v in bias.items()},
            design_choices=_text(doc, "design_choices"),
            assumptions=_text(doc, "assumptions"),
            owner=_text(doc, "owner"),
        )
        if card.model in models:
            findings.append(Finding(display, line_of(doc), "error", f"{card.model} declared twice"))
        models[card.model] = card
    return Declarations(categories, controller, models), findings
