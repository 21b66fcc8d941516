"""The PII vocabulary the linter uses without loading Presidio matches Presidio's registry."""

from __future__ import annotations

from presidio_analyzer import RecognizerRegistry

from governance.pii.types import PRESIDIO_ENTITIES


def test_builtin_entities_match_presidio() -> None:
    registry = RecognizerRegistry()
    registry.load_predefined_recognizers(languages=["en"])
    found = {e for rec in registry.recognizers for e in rec.supported_entities}
    assert found == PRESIDIO_ENTITIES
