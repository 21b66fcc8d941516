"""Batch text analysis against one ``analyze`` call per text, same texts, same results.

The texts are the evaluation set's retail sentences (``bench/pii_evalset.py``: chat lines,
order notes, CRM rows, receipts, app events). Three ways through the same analyzer:

* baseline: ``PiiAnalyzer.analyze`` once per text (Presidio's ``AnalyzerEngine.analyze``);
* batch: ``analyze_batch`` (spaCy ``nlp.pipe`` over the batch, Presidio's ``BatchAnalyzerEngine``);
* batch + processes: the batch split over worker processes, each with its own analyzer.

Each is checked to give exactly the baseline's findings. The pool's start-up (model loads in the
workers) is printed apart and not counted: it happens once per process lifetime.

    python bench/pii_text.py [--texts 2000] [--processes 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pii_evalset import sentences
from rich.console import Console
from rich.table import Table

from governance.config import get_settings
from governance.pii.analyzer import PiiAnalyzer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    console = Console()
    settings = get_settings()
    analyzer = PiiAnalyzer.from_settings(settings)
    texts = [e.text for e in sentences(args.texts)]
    chars = sum(len(t) for t in texts)
    console.print(
        f"{len(texts)} texts, {chars / len(texts):.0f} characters on average, "
        f"{os.cpu_count()} CPUs; model {analyzer.model}"
    )
    analyzer.analyze_batch(texts[:200], batch_size=args.batch_size)  # warm up
    for t in texts[:50]:
        analyzer.analyze(t)

    started = time.perf_counter()
    baseline = [analyzer.analyze(t) for t in texts]
    base_s = time.perf_counter() - started

    started = time.perf_counter()
    batch = analyzer.analyze_batch(texts, batch_size=args.batch_size)
    batch_s = time.perf_counter() - started

    started = time.perf_counter()
    analyzer.analyze_batch(texts[: 4 * args.batch_size], batch_size=args.batch_size,
                           processes=args.processes)  # fmt: skip
    pool_s = time.perf_counter() - started
    started = time.perf_counter()
    parallel = analyzer.analyze_batch(texts, batch_size=args.batch_size, processes=args.processes)
    parallel_s = time.perf_counter() - started
    analyzer.close()

    out = Table(title="PII analysis of short texts")
    for c in ("path", "texts/s", "ms/text", "MB/min", "speed-up", "same findings"):
        out.add_column(c, justify="left" if c == "path" else "right")
    for name, secs, result in (
        ("analyze() per text (baseline)", base_s, baseline),
        ("analyze_batch (nlp.pipe)", batch_s, batch),
        (f"analyze_batch, {args.processes} processes", parallel_s, parallel),
    ):
        out.add_row(
            name,
            f"{len(texts) / secs:,.0f}",
            f"{secs * 1000 / len(texts):.2f}",
            f"{chars / secs * 60 / 1e6:.2f}",
            f"{base_s / secs:.2f}x",
            "yes" if result == baseline else "[red]NO[/red]",
        )
    console.print(out)
    console.print(f"worker pool start-up (once per process lifetime): {pool_s:.1f} s")
    best = base_s / min(batch_s, parallel_s)
    console.print(
        f"best batch speed-up {best:.2f}x (target >= 3x) "
        + ("[green]ok[/green]" if best >= 3 else "[red]MISSED[/red]")
    )
    if parallel != baseline or batch != baseline:
        raise SystemExit("batch results differ from per-call results")


if __name__ == "__main__":
    main()
