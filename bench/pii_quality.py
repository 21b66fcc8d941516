"""PII detection quality on two labelled evaluation sets, ours against plain Presidio.

* set 1 (``bench/pii_evalset.py``): retail sentences written together with the analyzer's rules;
  precision, recall and F1 per entity type with the targets, and per-column accuracy of
  ``governance scan`` on its 20 tables;
* set 2 (``bench/pii_evalset2.py``): presidio-evaluator's templates and retail-ops lines, mostly
  negatives, built apart from the rules.

For both, per entity type and in the same run: precision, recall and false positives of the
service's analyzer (Presidio with the pinned spaCy model and the stewards' recognizers, as the
service runs it) and of plain Presidio (``AnalyzerEngine``, default recognizers, the same loaded
spaCy model, the same score threshold). The rule it checks: on every type, recall >= plain's and
false positives <= plain's. Exit status 1 if that rule or a set-1 target is missed.

Matching: see ``pii_compare.py`` (overlap, the usual entity-level rule; the strict column of
set 1 asks for the exact span). On set 1, found types the set does not label (DATE_TIME, NRP,
URL ...) are counted apart, not as errors; set 2 labels every type it holds.

    python bench/pii_quality.py [--sentences 400] [--sentences2 1000] [--rows 300]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pii_compare import Counts, parity_failures, plain_findings, plain_presidio
from pii_compare import score as score_both
from pii_evalset import ENTITIES, Example, sentences, tables
from pii_evalset2 import ENTITIES as ENTITIES2
from pii_evalset2 import sentences2
from rich.console import Console
from rich.table import Table

from governance.config import get_settings
from governance.pii.analyzer import Finding, PiiAnalyzer
from governance.pii.scan import TableScanner

TARGETS = {
    "EMAIL_ADDRESS": 0.95,
    "PHONE_NUMBER": 0.95,
    "CREDIT_CARD": 0.95,
    "IBAN_CODE": 0.95,
    "US_SSN": 0.95,
    "IP_ADDRESS": 0.95,
    "PERSON": 0.80,
}
COLUMN_TARGET = 0.95


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def score(gold: list[list[tuple[str, int, int]]], found: list[list[Finding]]) -> dict[str, Counter]:
    per: dict[str, Counter] = defaultdict(Counter)
    for g_spans, f_spans in zip(gold, found, strict=True):
        for t, s, e in g_spans:
            same = [f for f in f_spans if f.entity_type == t]
            per[t]["gold"] += 1
            per[t]["tp_overlap"] += any(overlaps((s, e), (f.start, f.end)) for f in same)
            per[t]["tp_exact"] += any((f.start, f.end) == (s, e) for f in same)
        for f in f_spans:
            if f.entity_type not in ENTITIES:
                per["(unlabelled types)"]["found"] += 1
                continue
            per[f.entity_type]["found"] += 1
            golds = [(s, e) for t, s, e in g_spans if t == f.entity_type]
            per[f.entity_type]["fp"] += not any(overlaps((f.start, f.end), g) for g in golds)
    return per


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def versus_plain(
    console: Console,
    title: str,
    examples: Sequence[Example],
    ours: Sequence[Sequence[object]],
    plain: Sequence[Sequence[object]],
    order: Sequence[str],
    labelled_only: bool,
) -> list[str]:
    """Print ours against plain Presidio per type; return where ours is worse."""
    o, p = score_both(examples, ours), score_both(examples, plain)
    if labelled_only:  # set 1 labels only its own types: score those
        o = {t: c for t, c in o.items() if t in order}
        p = {t: c for t, c in p.items() if t in order}
    types = [t for t in order if t in o or t in p]
    types += sorted((set(o) | set(p)) - set(types))
    table = Table(title=title)
    for c in (
        "entity",
        "labelled",
        "ours P",
        "ours R",
        "ours FP",
        "plain P",
        "plain R",
        "plain FP",
        "",
    ):
        table.add_column(c, justify="left" if c == "entity" else "right")
    failures = parity_failures(o, p)
    for t in types:
        a, b = o.get(t, Counts()), p.get(t, Counts())
        worse = a.hit < b.hit or a.fp > b.fp
        table.add_row(
            t,
            str(max(a.gold, b.gold)),
            _pct(a.precision),
            _pct(a.recall),
            str(a.fp),
            _pct(b.precision),
            _pct(b.recall),
            str(b.fp),
            "[red]WORSE[/]" if worse else "",
        )
    console.print(table)
    shown: Counter[str] = Counter()
    for e, fo, fp in zip(examples, ours, plain, strict=True):
        one_o, one_p = score_both([e], [fo]), score_both([e], [fp])
        for t in set(one_o) | set(one_p):
            a, b = one_o.get(t, Counts()), one_p.get(t, Counts())
            if (a.hit < b.hit or a.fp > b.fp) and shown[t] < 3 and t in types:
                shown[t] += 1
                console.print(
                    f"  worse on {t}: {e.text!r}\n    ours  {_spans(e.text, fo)}"
                    f"\n    plain {_spans(e.text, fp)}"
                )
    return [f"{title}: {f}" for f in failures]


def _spans(text: str, found: Sequence[object]) -> list[str]:
    return [f"{f.entity_type}:{text[f.start : f.end]!r}" for f in found]  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=400)
    parser.add_argument("--sentences2", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=300)
    args = parser.parse_args()
    console = Console(width=None if sys.stdout.isatty() else 130)  # whole tables in a log
    settings = get_settings()

    examples = sentences(args.sentences)
    examples2 = sentences2(args.sentences2)
    cases = tables(args.rows)
    console.print(
        f"evaluation set: {len(examples)} sentences "
        f"({sum(len(e.spans) for e in examples)} labelled entities), "
        f"{len(cases)} tables ({sum(len(c.labels) for c in cases)} columns x {args.rows} rows); "
        f"set 2: {len(examples2)} texts ({sum(len(e.spans) for e in examples2)} labelled spans)"
    )
    started = time.perf_counter()
    analyzer = PiiAnalyzer.from_settings(settings)
    console.print(f"analyzer loaded in {time.perf_counter() - started:.1f} s ({analyzer.model})")
    plain = plain_presidio(analyzer.nlp_engine, analyzer.score_threshold)

    found = analyzer.analyze_batch([e.text for e in examples])
    gold = [[(s.entity_type, s.start, s.end) for s in e.spans] for e in examples]
    per = score(gold, found)

    out = Table(title="Entity detection (overlap match; strict = exact span)")
    for c in (
        "entity",
        "labelled",
        "found",
        "precision",
        "recall",
        "F1",
        "strict recall",
        "target",
    ):
        out.add_column(c, justify="right" if c != "entity" else "left")
    failures = []
    for t in [*ENTITIES, "(unlabelled types)"]:
        c = per.get(t, Counter())
        if t == "(unlabelled types)":
            out.add_row(t, "", str(c["found"]), "", "", "", "", "")
            continue
        tp = c["tp_overlap"]
        p = (c["found"] - c["fp"]) / c["found"] if c["found"] else 0.0
        r = tp / c["gold"] if c["gold"] else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        strict = c["tp_exact"] / c["gold"] if c["gold"] else 0.0
        target = TARGETS.get(t)
        mark = ""
        if target is not None:
            ok = r >= target
            mark = f"recall >= {target:.2f} {'[green]ok[/]' if ok else '[red]MISSED[/]'}"
            if not ok:
                failures.append(f"{t} recall {r:.3f} < {target}")
        out.add_row(
            t,
            str(c["gold"]),
            str(c["found"]),
            f"{p:.3f}",
            f"{r:.3f}",
            f"{f1:.3f}",
            f"{strict:.3f}",
            mark,
        )
    console.print(out)

    misses: dict[str, list[str]] = defaultdict(list)
    for e, f_spans in zip(examples, found, strict=True):
        for s in e.spans:
            hit = any(
                f.entity_type == s.entity_type and overlaps((s.start, s.end), (f.start, f.end))
                for f in f_spans
            )
            if not hit and len(misses[s.entity_type]) < 3:
                got = [f"{f.entity_type}:{e.text[f.start : f.end]!r}" for f in f_spans]
                misses[s.entity_type].append(f"{s.text!r} in {e.channel} (found {got})")
    if misses:
        console.print("[bold]examples of misses[/bold]")
        for t, lines in misses.items():
            for line in lines:
                console.print(f"  {t}: {line}")

    plain1 = plain_findings(plain, [e.text for e in examples])
    failures += versus_plain(
        console, "Set 1 vs plain Presidio", examples, found, plain1, ENTITIES, labelled_only=True
    )
    found2 = analyzer.analyze_batch([e.text for e in examples2])
    plain2 = plain_findings(plain, [e.text for e in examples2])
    failures += versus_plain(
        console,
        "Set 2 vs plain Presidio",
        examples2,
        found2,
        plain2,
        ENTITIES2,
        labelled_only=False,
    )

    scanner = TableScanner(analyzer, sample_rows=1000)
    cols = Table(title="Column classification (governance scan)")
    for c in ("table", "columns", "correct", "wrong"):
        cols.add_column(c)
    right = total = 0
    for case in cases:
        verdicts = scanner.classify({k: [str(v) for v in vs] for k, vs in case.columns.items()})
        wrong = []
        for v in verdicts:
            total += 1
            if sorted(v.pii_types) == sorted(case.labels[v.column]):
                right += 1
            else:
                wrong.append(
                    f"{v.column}: {v.pii_types or '-'} (label {case.labels[v.column] or '-'})"
                )
        cols.add_row(
            case.name, str(len(verdicts)), str(len(verdicts) - len(wrong)), "; ".join(wrong)
        )
    console.print(cols)
    accuracy = right / total
    ok = accuracy >= COLUMN_TARGET
    console.print(
        f"column accuracy {right}/{total} = {accuracy:.3f} "
        f"(target >= {COLUMN_TARGET}) {'[green]ok[/]' if ok else '[red]MISSED[/]'}"
    )
    if not ok:
        failures.append(f"column accuracy {accuracy:.3f} < {COLUMN_TARGET}")
    if failures:
        console.print("[red]targets missed:[/red] " + "; ".join(failures))
        raise SystemExit(1)


if __name__ == "__main__":
    main()
