"""Ours against plain Presidio, per entity type: the scorer of ``pii_quality.py`` and the unit tests.

"Plain Presidio" is ``AnalyzerEngine`` with its default recognizers, the same spaCy model (the
same loaded NLP engine, so the NER is identical) and the same score threshold: what a team
would run without this service's rules.

Matching is the usual entity-level rule: a finding hits a labelled span when the types are
equal and the spans overlap. A finding that overlaps an ``IGNORED`` region (personal data of a
kind Presidio has no type for, such as a street address) is not counted at all. Every other
finding that hits no labelled span of its type is a false positive.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

IGNORED = "IGNORED"


class Labelled(Protocol):
    @property
    def text(self) -> str: ...
    @property
    def spans(self) -> Sequence[Any]: ...


@dataclass(frozen=True)
class Found:
    entity_type: str
    start: int
    end: int


@dataclass
class Counts:
    gold: int = 0
    hit: int = 0
    found: int = 0
    fp: int = 0

    @property
    def recall(self) -> float | None:
        return self.hit / self.gold if self.gold else None

    @property
    def precision(self) -> float | None:
        return (self.found - self.fp) / self.found if self.found else None


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def score(examples: Sequence[Labelled], found: Sequence[Iterable[Any]]) -> dict[str, Counts]:
    """Per entity type: labelled spans, those hit, findings counted, false positives."""
    per: dict[str, Counts] = defaultdict(Counts)
    for example, findings in zip(examples, found, strict=True):
        gold = [(s.entity_type, s.start, s.end) for s in example.spans]
        ignored = [(s, e) for t, s, e in gold if t == IGNORED]
        labelled = [(t, s, e) for t, s, e in gold if t != IGNORED]
        fs = [(f.entity_type, f.start, f.end) for f in findings]
        for t, s, e in labelled:
            per[t].gold += 1
            per[t].hit += any(ft == t and overlaps((s, e), (fs_, fe)) for ft, fs_, fe in fs)
        for ft, fs_, fe in fs:
            if any(overlaps((fs_, fe), r) for r in ignored):
                continue
            per[ft].found += 1
            per[ft].fp += not any(t == ft and overlaps((fs_, fe), (s, e)) for t, s, e in labelled)
    return dict(per)


def parity_failures(ours: dict[str, Counts], plain: dict[str, Counts]) -> list[str]:
    """Where ours is worse than plain Presidio: fewer labelled spans hit (recall, on the same
    spans) or more false positives, per entity type."""
    out = []
    for t in sorted(set(ours) | set(plain)):
        o, p = ours.get(t, Counts()), plain.get(t, Counts())
        if o.hit < p.hit:
            out.append(f"{t}: recall {o.hit}/{o.gold} < plain {p.hit}/{p.gold}")
        if o.fp > p.fp:
            out.append(f"{t}: {o.fp} false positives > plain {p.fp}")
    return out


def plain_presidio(nlp_engine: Any, score_threshold: float) -> Any:
    """Presidio's ``AnalyzerEngine`` with its default English recognizers on ``nlp_engine``."""
    from presidio_analyzer import AnalyzerEngine

    return AnalyzerEngine(
        nlp_engine=nlp_engine,
        supported_languages=["en"],
        default_score_threshold=score_threshold,
    )


def plain_findings(engine: Any, texts: Sequence[str], batch_size: int = 64) -> list[list[Found]]:
    from presidio_analyzer import BatchAnalyzerEngine

    batch = BatchAnalyzerEngine(analyzer_engine=engine)
    results = batch.analyze_iterator(list(texts), language="en", batch_size=batch_size)
    return [[Found(r.entity_type, r.start, r.end) for r in rs] for rs in results]
