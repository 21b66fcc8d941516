"""The policy's own words in the OpenAPI document: purposes, PII types, identifier shapes.

Some request values are valid only if the policy in service knows them (a purpose of
``purposes.yaml``, a PII type, the shape of a ``customer_id`` from ``catalog.yaml``). A field
says which list it draws from with ``vocabulary("purposes")``; when the document is served, the
marker becomes an ``enum`` or ``pattern`` taken from the current policy bundle, so a client (or a
fuzzer) reading the contract knows what the server will take. A policy reload changes the
document with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from governance.pdp.bundle import PolicyBundle
from governance.subjects.consent import CCPA_RIGHTS
from governance.subjects.identifiers import anchored, identifier_shape

MARKER = "x-vocabulary"
Vocabularies = dict[str, dict[str, Any]]


def vocabulary(name: str) -> dict[str, Any]:
    """``json_schema_extra`` for a field whose values come from the policy's list ``name``."""
    return {MARKER: name}


def from_bundle(bundle: PolicyBundle) -> Vocabularies:
    purposes = sorted(bundle.purposes)
    out: Vocabularies = {
        "purposes": {"enum": purposes},
        "consent-purposes": {"enum": [*purposes, *CCPA_RIGHTS]},
        "pii-types": {"enum": sorted(bundle.pii_types)},
    }
    kinds = bundle.catalog.identifiers
    for kind in ("customer_id", "email", "phone"):  # the fields of DataSubjectRef
        spec = kinds.get(kind)
        out[f"identifier:{kind}"] = (
            {"pattern": anchored(identifier_shape(spec))}
            if spec is not None
            else {"type": "null", "description": f"{kind} is not an identifier in this policy"}
        )
    out["identifier-text"] = {
        "pattern": "^(?:"
        + "|".join(
            f"{re.escape(kind)}:{anchored(identifier_shape(spec))[1:-1]}"
            for kind, spec in sorted(kinds.items())
        )
        + ")$"
    }
    return out


def substitute(node: Any, vocabularies: Vocabularies) -> Any:
    """A copy of ``node`` (an OpenAPI document) with each marker replaced by its list."""
    if isinstance(node, dict):
        out = {k: substitute(v, vocabularies) for k, v in node.items() if k != MARKER}
        name = node.get(MARKER)
        if isinstance(name, str) and name in vocabularies:
            out.update(vocabularies[name])
        return out
    if isinstance(node, list):
        return [substitute(v, vocabularies) for v in node]
    return node


VocabularySource = Callable[[], tuple[str, Vocabularies] | None]
"""The current (version, vocabularies), or None before the services are up."""
