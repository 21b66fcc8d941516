"""PII in the running service: the analyzer (built once, off the event loop), the key ring and
the operators, and Presidio-compatible anonymization of text."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from governance.config import Settings
from governance.errors import FieldProblem, InvalidInput, PayloadTooLarge, Unavailable
from governance.pii.analyzer import Finding, PiiAnalyzer, PiiUnavailable
from governance.pii.keyring import KeyRing, KeyRingError, keyring_from_settings
from governance.pii.operators import Protector, TokenError, mask_value

log = logging.getLogger(__name__)

# Presidio anonymizer operator types we implement with our key ring instead of request params
_KEYED = frozenset({"hash", "encrypt", "pseudonymize"})
_PRESIDIO = frozenset({"replace", "redact", "mask", "keep"})


class PiiService:
    """Analysis, anonymization and reversal for the API and the adapters."""

    def __init__(
        self,
        settings: Settings,
        *,
        domains: Callable[[], Mapping[str, str]] | None = None,
        analyzer: PiiAnalyzer | None = None,
    ) -> None:
        self.settings = settings
        self._domains = domains or dict
        self._analyzer = analyzer
        self._analyzer_error: str | None = None
        self._loaded = threading.Event()
        if analyzer is not None:
            self._loaded.set()
        self._load_lock = threading.Lock()
        # spaCy and Presidio are CPU-bound: one worker thread keeps them off the event loop
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pii")
        self._ring: KeyRing | None = None
        self._protector: tuple[tuple[tuple[str, str], ...], Protector] | None = None

    # ---- the analyzer -----------------------------------------------------------------------

    def start(self) -> None:
        if self.settings.pii.preload:
            # on the PII worker itself: a request that arrives meanwhile waits for it, and spaCy
            # is never imported by two threads at once (its Cython modules fail with KeyError)
            self._pool.submit(self._try_load)

    def _try_load(self) -> None:
        with contextlib.suppress(Unavailable):  # reported on use
            self.analyzer()

    def analyzer(self) -> PiiAnalyzer:
        if self._analyzer is not None:
            return self._analyzer
        with self._load_lock:
            if self._analyzer is None:
                try:
                    self._analyzer = PiiAnalyzer.from_settings(self.settings)
                    self._analyzer_error = None
                except (PiiUnavailable, OSError) as exc:
                    self._analyzer_error = str(exc)
                    log.error("PII analyzer unavailable: %s", exc)
                    raise Unavailable(f"PII analysis is unavailable: {exc}") from exc
                finally:
                    self._loaded.set()
        return self._analyzer

    def loaded_entities(self) -> list[str] | None:
        """The entity types the analyzer finds, once it is loaded (None before: loading takes
        seconds, and a caller that only wants the list should not pay for it)."""
        analyzer = self._analyzer
        return None if analyzer is None else analyzer.supported_entities

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        return self._pool.submit(fn, *args, **kwargs)

    def analyze(
        self,
        text: str,
        *,
        language: str = "en",
        entities: Sequence[str] | None = None,
        score_threshold: float | None = None,
    ) -> list[Finding]:
        self.check_text(text, ("body", "text"))
        if language != "en":
            raise InvalidInput(
                f"language {language!r} is not supported; supported: en",
                [FieldProblem(("body", "language"), "supported: en")],
            )
        analyzer = self.analyzer()
        if entities:
            unknown = sorted(set(entities) - set(analyzer.supported_entities))
            if unknown:
                raise InvalidInput(
                    f"unknown entities: {', '.join(unknown)}",
                    [FieldProblem(("body", "entities"), f"unknown: {', '.join(unknown)}")],
                )
        return analyzer.analyze(
            text, language=language, entities=entities, score_threshold=score_threshold
        )

    def check_text(self, text: str, loc: tuple[str | int, ...]) -> None:
        size = len(text.encode())
        if size > self.settings.pii.max_text_bytes:
            raise PayloadTooLarge(
                f"{'.'.join(map(str, loc))} is {size} bytes; at most "
                f"{self.settings.pii.max_text_bytes} are analyzed in one call"
            )

    def scrub(self, text: str) -> str:
        """``text`` with every PII span found replaced by ``<TYPE>``."""
        findings = self.analyzer().analyze(text)
        out = text
        for f in sorted(findings, key=lambda f: f.start, reverse=True):
            out = out[: f.start] + f"<{f.entity_type}>" + out[f.end :]
        return out

    # ---- keys and operators -----------------------------------------------------------------

    def ring(self) -> KeyRing:
        if self._ring is None:
            try:
                self._ring = keyring_from_settings(self.settings)
            except KeyRingError as exc:
                raise Unavailable(f"pseudonymization is unavailable: {exc}") from exc
        return self._ring

    def protector(self) -> Protector:
        """Operators with the current purposes' pseudonym domains (policy may hot-reload)."""
        domains = tuple(sorted(self._domains().items()))
        cached = self._protector
        if cached is None or cached[0] != domains:
            cached = (domains, Protector(self.ring(), domains=dict(domains), scrub=self.scrub))
            self._protector = cached
        return cached[1]

    def decrypt_all(self, tokens: Sequence[tuple[str, str | None]], *, dataset: str) -> list[str]:
        """Every (token, column)'s value, or ``InvalidInput`` naming the first bad one (nothing
        is revealed then). Bound tokens open only for the dataset and column they were made
        for; unbound (legacy) ones only while ``GOVERNANCE_PII__LEGACY_TOKENS`` allows."""
        protector = self.protector()
        legacy = self.settings.pii.legacy_tokens
        values: list[str] = []
        problems: list[FieldProblem] = []
        for i, (token, column) in enumerate(tokens):
            try:
                values.append(
                    protector.decrypt(token, dataset=dataset, column=column, legacy=legacy)
                )
            except TokenError as exc:
                problems.append(FieldProblem(("body", "tokens", i), str(exc)))
        if problems:
            raise InvalidInput(
                f"{len(problems)} token(s) cannot be reversed; nothing was revealed", problems
            )
        return values

    # ---- Presidio's anonymizer, our keys ----------------------------------------------------

    def anonymize(
        self,
        text: str,
        analyzer_results: Sequence[Mapping[str, Any]],
        anonymizers: Mapping[str, Mapping[str, Any]],
        *,
        purpose: str | None = None,
        dataset: str | None = None,
        column: str | None = None,
    ) -> dict[str, Any]:
        """Presidio's ``AnonymizerEngine.anonymize``; ``hash``, ``encrypt`` and ``pseudonymize``
        use the service's key ring (a ``key`` in the request is refused, never used)."""
        from presidio_anonymizer import AnonymizerEngine
        from presidio_anonymizer.entities import (
            InvalidParamError,
            OperatorConfig,
            RecognizerResult,
        )

        self.check_text(text, ("body", "text"))
        results = []
        for i, item in enumerate(analyzer_results):
            start, end = int(item["start"]), int(item["end"])
            if not 0 <= start <= end <= len(text):
                raise InvalidInput(
                    f"analyzer_results[{i}]: span {start}..{end} is outside the text",
                    [FieldProblem(("body", "analyzer_results", i), "span outside the text")],
                )
            results.append(
                RecognizerResult(str(item["entity_type"]), start, end, float(item["score"]))
            )
        protector = self.protector()
        operators: dict[str, Any] = {}
        names: dict[str, str] = {}  # Presidio calls ours "custom"; items say which they were
        for entity, config in anonymizers.items():
            kind = str(config.get("type", ""))
            params = {k: v for k, v in config.items() if k != "type"}
            loc = ("body", "anonymizers", entity)
            names[entity] = kind
            if kind in _KEYED:
                if "key" in params:
                    raise InvalidInput(
                        f"{entity}: keys come from the service's key ring, not the request",
                        [FieldProblem((*loc, "key"), "not accepted")],
                    )
                if kind == "encrypt" and dataset is None:
                    raise InvalidInput(
                        f"{entity}: encrypt binds its tokens to a dataset (and a column, "
                        "'text' by default): give 'dataset' in the request",
                        [FieldProblem(("body", "dataset"), "required by encrypt")],
                    )
                operators[entity] = OperatorConfig(
                    "custom",
                    {"lambda": _keyed(protector, kind, entity, purpose, (dataset, column))},
                )
            elif kind in _PRESIDIO:
                operators[entity] = OperatorConfig(kind, params)
            elif kind == "mask_format":
                operators[entity] = OperatorConfig(
                    "custom", {"lambda": lambda v, e=entity: mask_value(v, e)}
                )
            else:
                raise InvalidInput(
                    f"{entity}: unknown anonymizer type {kind!r}",
                    [
                        FieldProblem(
                            (*loc, "type"),
                            "one of hash, encrypt, pseudonymize, replace, redact, mask, "
                            "mask_format, keep",
                        )
                    ],
                )
        try:
            engine_result = AnonymizerEngine().anonymize(  # type: ignore[no-untyped-call]
                text=text, analyzer_results=results, operators=operators or None
            )
        except InvalidParamError as exc:
            raise InvalidInput(f"anonymizers: {exc.err_msg}") from None
        return {
            "text": engine_result.text,
            "items": [
                {
                    "start": item.start,
                    "end": item.end,
                    "entity_type": item.entity_type,
                    "text": item.text,
                    "operator": names.get(item.entity_type, names.get("DEFAULT", item.operator))
                    if item.operator == "custom"
                    else item.operator,
                }
                for item in sorted(engine_result.items, key=lambda i: i.start)
            ],
        }

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._analyzer is not None:
            self._analyzer.close()


def _keyed(
    protector: Protector,
    kind: str,
    entity: str,
    purpose: str | None,
    binding: tuple[str | None, str | None],
) -> Callable[[str], str]:
    if kind == "hash":
        return lambda v: protector.hash(v, entity) or ""
    if kind == "encrypt":
        dataset, column = binding[0] or "", binding[1] or "text"
        return lambda v: protector.encrypt(v, dataset=dataset, column=column) or ""
    return lambda v: protector.pseudonymize(v, entity, purpose=purpose) or ""
