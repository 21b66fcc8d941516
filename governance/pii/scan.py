"""Classify every column of a table: a sample, column-name hints, fast recognizers, NER last.

Running Presidio on every cell is correct and hopeless (milliseconds a cell: hours for a large
table). A column is one kind of data, so a sample decides it:

1. **Sample.** Up to ``sample_rows`` non-empty values per column (a seeded random sample of the
   rows), as text. Repeated values are analyzed once.
2. **Name hints.** ``email``, ``phone``, ``iban``, ``dob`` … suggest a type. A hint never
   decides alone; it lowers the share of matching values a type needs and names the reason.
3. **Pattern recognizers.** Presidio's own recognizers that need no NLP (regexes, checksums,
   ``phonenumbers``; the stewards' YAML recognizers too) run on each distinct sampled value. A
   value *is* of a type when one finding of that type covers most of it.
4. **NER where needed.** Only columns still undecided that hold short text go through spaCy
   (``nlp.pipe``, on a smaller sample): names and places. Long text is free text: it is
   ``FREE_TEXT`` when PII shows up in enough of it, with the types found listed.

A type is the column's verdict when at least ``min_share`` of the sampled values are of it
(``hinted_share`` if the name agrees). Dates are personal data only when the name says so
(``birth``, ``dob``): every table has timestamps, and a created-at is not a birthday.

``verdict_of`` turns per-value findings into a verdict; the baseline in ``bench/pii_scan.py``
feeds it Presidio's findings on every cell, so both are judged by the same rule.
"""

from __future__ import annotations

import logging
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from governance.pii.analyzer import NER_RECOGNIZERS, Finding, PiiAnalyzer, resolve_overlaps
from governance.pii.classifications import Suggestion
from governance.pii.operators import mask_value
from governance.pii.types import FREE_TEXT

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

NAME_HINTS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p), t)
    for p, t in [
        (r"e_?mail", "EMAIL_ADDRESS"),
        (r"phone|mobile|msisdn|^tel|_tel|fax", "PHONE_NUMBER"),
        (r"iban", "IBAN_CODE"),
        (r"card_?(no|num)|cc_?num|^pan$|credit_?card|card_number", "CREDIT_CARD"),
        (r"ssn|social_?security", "US_SSN"),
        (r"(^|_)ip(_?addr(ess)?)?$|ip_address|client_ip|remote_addr", "IP_ADDRESS"),
        (
            r"(first|last|full|given|family|sur|customer|contact|holder|agent)_?name|^name$",
            "PERSON",
        ),
        (
            r"address|street|city|town|postcode|zip|country|location|(^|_)state$|province",
            "LOCATION",
        ),
        (r"birth|dob", "DATE_TIME"),
        (r"url|website|homepage|link", "URL"),
        (r"loyalty", "LOYALTY_CARD"),
        (r"customer_?id|client_?id", "CUSTOMER_ID"),
        (r"order_?(no|num|number|ref)", "ORDER_NUMBER"),
    ]
]
DATE_NEEDS_HINT = "DATE_TIME"
_PHONE_WORD = "tel: "
NER_TYPES = ("PERSON", "LOCATION", "NRP")
# in free text, a date ("the same day", "thirty days") or a company is not personal data
NOT_PERSONAL_IN_TEXT = frozenset({"DATE_TIME", "ORGANIZATION"})


def name_hints(column: str) -> list[str]:
    """PII types a column name suggests (snake-cased, lower case)."""
    norm = (
        re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", column).lower().replace("-", "_").replace(" ", "_")
    )
    return [t for pattern, t in NAME_HINTS if pattern.search(norm)]


@dataclass
class ColumnVerdict:
    column: str
    pii_types: list[str]
    confidence: float
    sampled: int
    distinct: int
    matched: dict[str, int] = field(default_factory=dict)
    explanation: list[str] = field(default_factory=list)
    method: str = "patterns"

    def public(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "pii_types": self.pii_types,
            "confidence": round(self.confidence, 3),
            "sampled": self.sampled,
            "distinct": self.distinct,
            "matched": self.matched,
            "method": self.method,
            "explanation": self.explanation,
        }

    def suggestion(self) -> Suggestion:
        return Suggestion(
            self.column,
            tuple(self.pii_types),
            self.confidence,
            {"sampled": self.sampled, "matched": self.matched, "explanation": self.explanation},
        )


@dataclass(frozen=True)
class ScanRules:
    min_share: float = 0.6
    hinted_share: float = 0.3
    free_text_share: float = 0.2
    free_text_min_length: int = 40
    ner_sample: int = 200


def _header_prefix(column: str) -> str:
    return f"The {column.replace('_', ' ').strip()} is "


def cell_with_header(column: str, value: str) -> str:
    """A cell as NER reads it: with its header, as a person reads a table. spaCy's small model
    tags a lone "Cuenca" as nothing, "The city is Cuenca." as a place (on the evaluation set's
    cities, 27% tagged alone, 55% with the header; names 76% and 79%)."""
    return f"{_header_prefix(column)}{value}."


def findings_in_cell(column: str, findings: Iterable[Finding]) -> list[Finding]:
    """The findings on a ``cell_with_header`` text that lie in the value, in its offsets."""
    skip = len(_header_prefix(column))
    return [
        Finding(f.entity_type, f.start - skip, f.end - skip, f.score)
        for f in findings
        if f.start >= skip
    ]


def covering(findings: Iterable[Finding], value: str) -> set[str]:
    """Types that one finding covers most (≥ 80%) of the stripped value with."""
    text = value.strip()
    if not text:
        return set()
    offset = len(value) - len(value.lstrip())
    out = set()
    for f in findings:
        covered = min(f.end, offset + len(text)) - max(f.start, offset)
        if covered >= 0.8 * len(text):
            out.add(f.entity_type)
    return out


def _example(values: Sequence[str], entity: str, hits: Mapping[str, set[str]]) -> str:
    for v in values:
        if entity in hits.get(v, ()):
            return mask_value(v.strip()[:60], entity)
    return ""


def verdict_of(
    column: str,
    values: Sequence[str],
    hits: Mapping[str, set[str]],
    *,
    rules: ScanRules = ScanRules(),
    recognizer_of: Mapping[str, str] | None = None,
    method: str = "patterns",
) -> ColumnVerdict:
    """The verdict for one column from what each (distinct) value was found to be."""
    hints = name_hints(column)
    sampled = len(values)
    counts: Counter[str] = Counter()
    for v in values:
        for t in hits.get(v, ()):
            counts[t] += 1
    verdict: list[str] = []
    explanation: list[str] = []
    confidence = 0.0
    for entity, n in counts.most_common():
        share = n / sampled if sampled else 0.0
        needed = rules.hinted_share if entity in hints else rules.min_share
        if entity == DATE_NEEDS_HINT and entity not in hints:
            if share >= rules.min_share:
                explanation.append(
                    f"{n}/{sampled} values are dates, but the name does not say birth or dob: "
                    "timestamps are not treated as personal data"
                )
            continue
        if share < needed:
            continue
        verdict.append(entity)
        by = (recognizer_of or {}).get(entity, "Presidio")
        example = _example(values, entity, hits)
        reason = f"{by} matched {n}/{sampled} sampled values ({share:.0%})"
        if example:
            reason += f", e.g. {example!r}"
        if entity in hints:
            reason += f"; the column name suggests {entity} too"
        explanation.append(reason)
        confidence = max(confidence, min(1.0, share + (0.2 if entity in hints else 0.0)))
    if not verdict:
        top = counts.most_common(1)
        if hints:
            explanation.append(
                f"the name suggests {', '.join(hints)}, but "
                + (f"only {top[0][1]}/{sampled} values matched" if top else "no value matched")
            )
        if not sampled:
            explanation.append("no values to sample")
        confidence = 1.0 - (top[0][1] / sampled if top and sampled else 0.0)
    return ColumnVerdict(
        column=column,
        pii_types=verdict[:1] if verdict else [],
        confidence=round(confidence, 3),
        sampled=sampled,
        distinct=len(set(values)),
        matched=dict(counts),
        explanation=explanation,
        method=method,
    )


class TableScanner:
    """Column verdicts for a table, with Presidio's recognizers but not on every cell."""

    def __init__(
        self,
        analyzer: PiiAnalyzer,
        *,
        sample_rows: int = 1000,
        rules: ScanRules = ScanRules(),
        seed: int = 0,
    ) -> None:
        self.analyzer = analyzer
        self.sample_rows = sample_rows
        self.rules = rules
        self.seed = seed
        registry = analyzer.engine.registry
        self.pattern_recognizers: list[Any] = []
        recognizers: list[Any] = registry.get_recognizers(language="en", all_fields=True)
        for r in recognizers:
            name = str(r.name)
            if name in NER_RECOGNIZERS:
                continue
            try:  # a recognizer that needs NLP artifacts is not for this pass
                r.analyze("probe 4111 1111 1111 1111", r.supported_entities, None)
            except Exception as exc:
                log.debug("recognizer %s skipped by scans: %s", name, type(exc).__name__)
                continue
            self.pattern_recognizers.append(r)
        self.recognizer_of = {
            e: str(r.name) for r in self.pattern_recognizers for e in r.supported_entities
        }
        self._allow = set(analyzer.allow_list)
        self._threshold = analyzer.score_threshold

    # ---- per value ------------------------------------------------------------------------

    def pattern_hits(self, value: str, *, phone_column: bool = False) -> set[str]:
        """Types whose finding covers most of ``value``. In a column whose name says phone
        (``phone_column``), the value is read after a phone word, as the name is one: national
        numbers of the regions that need one ("612 34 56 78" in Spain) count there."""
        if value.strip() in self._allow:
            return set()
        prefix = _PHONE_WORD if phone_column else ""
        text = prefix + value
        findings = [
            Finding(
                r.entity_type,
                r.start - len(prefix),
                r.end - len(prefix),
                float(r.score),
                str(recognizer.name),
            )
            for recognizer in self.pattern_recognizers
            for r in recognizer.analyze(text, recognizer.supported_entities, None) or []
            if r.score >= self._threshold and r.start >= len(prefix)
        ]
        return covering(resolve_overlaps(findings, self.analyzer.steward_recognizers), value)

    # ---- per column -----------------------------------------------------------------------

    def classify_column(self, column: str, values: Sequence[str]) -> ColumnVerdict:
        distinct = sorted(set(values))
        phone_column = "PHONE_NUMBER" in name_hints(column)
        hits = {v: self.pattern_hits(v, phone_column=phone_column) for v in distinct}
        verdict = verdict_of(
            column, values, hits, rules=self.rules, recognizer_of=self.recognizer_of
        )
        if verdict.pii_types or not values:
            return verdict
        long_text = sum(len(v) >= self.rules.free_text_min_length and " " in v for v in values)
        if long_text >= 0.5 * len(values):
            return self._free_text(column, values, verdict)
        if sum(any(c.isalpha() for c in v) for v in values) < 0.5 * len(values):
            return verdict  # numbers, codes: NER has nothing to add
        return self._ner(column, values, verdict)

    def _ner_findings(
        self, texts: Sequence[str], entities: Sequence[str] | None
    ) -> list[list[Finding]]:
        return self.analyzer.analyze_batch(texts, entities=entities)

    def _ner_sample(self, values: Sequence[str]) -> list[str]:
        if len(values) <= self.rules.ner_sample:
            return list(values)
        return random.Random(self.seed).sample(list(values), self.rules.ner_sample)

    def _ner(self, column: str, values: Sequence[str], before: ColumnVerdict) -> ColumnVerdict:
        sample = self._ner_sample(values)
        distinct = sorted(set(sample))
        found = self._ner_findings([cell_with_header(column, v) for v in distinct], NER_TYPES)
        hits = {
            v: covering(findings_in_cell(column, f), v)
            for v, f in zip(distinct, found, strict=True)
        }
        verdict = verdict_of(
            column,
            sample,
            hits,
            rules=self.rules,
            recognizer_of=dict.fromkeys(NER_TYPES, "SpacyRecognizer (NER)"),
            method="ner",
        )
        if not verdict.pii_types:
            verdict.explanation = before.explanation + verdict.explanation
            verdict.matched = {**before.matched, **verdict.matched}
            verdict.sampled, verdict.distinct = before.sampled, before.distinct
        return verdict

    def _free_text(
        self, column: str, values: Sequence[str], before: ColumnVerdict
    ) -> ColumnVerdict:
        sample = self._ner_sample(values)
        found = [
            [x for x in f if x.entity_type not in NOT_PERSONAL_IN_TEXT]
            for f in self._ner_findings(sample, None)
        ]
        with_pii = [f for f in found if f]
        types = Counter(t for f in found for t in {x.entity_type for x in f})
        share = len(with_pii) / len(sample)
        if share >= self.rules.free_text_share:
            listed = ", ".join(f"{t} in {n}" for t, n in types.most_common(6))
            return ColumnVerdict(
                column,
                [FREE_TEXT],
                round(min(1.0, 0.5 + share / 2), 3),
                len(sample),
                len(set(sample)),
                dict(types),
                [f"free text: {len(with_pii)}/{len(sample)} sampled texts hold PII ({listed})"],
                "ner",
            )
        before.explanation.append(
            f"free text: {len(with_pii)}/{len(sample)} sampled texts hold PII (below "
            f"{self.rules.free_text_share:.0%})"
        )
        before.method = "ner"
        return before

    # ---- tables ---------------------------------------------------------------------------

    def classify(
        self,
        columns: Mapping[str, Sequence[str]],
        *,
        progress: Callable[[str], None] | None = None,
    ) -> list[ColumnVerdict]:
        out = []
        for name, values in columns.items():
            out.append(self.classify_column(name, values))
            if progress is not None:
                progress(name)
        return out


# ---- sources --------------------------------------------------------------------------------


def _texts(values: Iterable[Any]) -> list[str]:
    out = []
    for v in values:
        if v is None or (isinstance(v, float) and v != v):
            continue
        text = v if isinstance(v, str) else str(v)
        if text.strip():
            out.append(text)
    return out


def sample_frame(frame: pd.DataFrame, rows: int, seed: int = 0) -> dict[str, list[str]]:
    """Up to ``rows`` non-empty values per column, from one seeded sample of the rows."""
    if len(frame) > rows * 3:
        frame = frame.sample(n=rows * 3, random_state=seed)  # room for empty cells
    return {str(c): _texts(frame[c].tolist())[:rows] for c in frame.columns}


def read_file(path: Path) -> pd.DataFrame:
    """A CSV (optionally gzipped) or Parquet file, every column as read by pyarrow."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        table = pq.read_table(path)
    elif name.endswith((".csv", ".csv.gz", ".tsv")):
        parse = pacsv.ParseOptions(delimiter="\t" if name.endswith(".tsv") else ",")
        convert = pacsv.ConvertOptions(strings_can_be_null=True)
        table = pacsv.read_csv(path, parse_options=parse, convert_options=convert)
    else:
        raise ValueError(f"{path.name}: scan CSV (.csv, .csv.gz, .tsv) or Parquet (.parquet)")
    return table.to_pandas()


def sample_sql(url: str, table: str, rows: int, seed: int = 0) -> dict[str, list[str]]:
    """A random sample of ``table`` (``schema.table`` allowed) behind a SQLAlchemy URL."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        schema, _, name = table.rpartition(".")
        meta = sa.MetaData()
        reflected = sa.Table(name, meta, schema=schema or None, autoload_with=engine)
        order = sa.func.random()
        query = sa.select(reflected).order_by(order).limit(rows * 3)
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT setseed({(seed % 1000) / 1000})")
            result = conn.execute(query)
            keys = list(result.keys())
            data = list(result)
        return {k: _texts(r[i] for r in data)[:rows] for i, k in enumerate(keys)}
    finally:
        engine.dispose()
