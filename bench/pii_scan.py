"""Classifying a 1,000,000-row x 12-column table: ``governance scan`` against Presidio on every cell.

The table is a retail customer/order extract (ids, names, emails, phones from ten countries,
cards, IBANs, IPs, cities, birth dates, timestamps, amounts, SKUs), written to Parquet first, so
the scan reads a real file as ``governance scan customers.parquet`` would.

* **scan**: read the file, sample, name hints, pattern recognizers on distinct sampled values,
  NER only for columns still undecided (``governance.pii.scan.TableScanner``), timed end to end.
* **baseline**: Presidio's ``analyze`` on every cell. Running it on 12,000,000 cells would take
  most of a day, so it runs on every cell of a random sample of rows, and its throughput is
  **extrapolated** to the full table. Each cell is read with its header ("The city is
  Cuenca."), as the scan's NER reads it: spaCy's small model misses most bare city names, and
  the comparison is of speed at equal answers. Its column verdicts come from the same rule
  (``verdict_of``) applied to its per-cell findings, and are compared with the scan's.

    python bench/pii_scan.py [--rows 1000000] [--baseline-rows 200]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
from pii_evalset import Values
from rich.console import Console
from rich.table import Table

from governance.config import get_settings
from governance.pii.analyzer import PiiAnalyzer
from governance.pii.scan import (
    TableScanner,
    cell_with_header,
    covering,
    findings_in_cell,
    read_file,
    sample_frame,
    verdict_of,
)

POOL = 20_000  # distinct values per column, drawn with Faker; rows pick from them


def build_table(rows: int, seed: int = 11) -> pd.DataFrame:
    values = Values(seed)
    f = values.us
    rng = np.random.default_rng(seed)
    pools = {
        "customer_id": [values.customer_id() for _ in range(POOL)],
        "full_name": [values.person() for _ in range(POOL)],
        "email": [values.email() for _ in range(POOL)],
        "phone": [values.phone() for _ in range(POOL)],
        "card_number": [values.card() for _ in range(POOL)],
        "iban": [values.iban() for _ in range(POOL)],
        "last_login_ip": [values.ip() for _ in range(POOL)],
        "city": [values.city() for _ in range(POOL)],
        "date_of_birth": [f.date_of_birth(minimum_age=18).isoformat() for _ in range(POOL)],
    }
    frame = {k: np.array(v, dtype=object)[rng.integers(0, POOL, rows)] for k, v in pools.items()}
    frame["order_ts"] = pd.Timestamp("2026-01-01") + pd.to_timedelta(
        rng.integers(0, 330 * 86400, rows), unit="s"
    )
    frame["amount"] = np.round(rng.uniform(1, 500, rows), 2)
    frame["sku"] = np.char.add("SKU-", rng.integers(0, 99999, rows).astype(str).astype(object))
    return pd.DataFrame(frame)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--baseline-rows", type=int, default=200)
    parser.add_argument("--sample", type=int, default=None, help="scan sample (default: setting)")
    args = parser.parse_args()
    console = Console()
    settings = get_settings()
    sample_rows = args.sample or settings.pii.scan_sample_rows

    started = time.perf_counter()
    frame = build_table(args.rows)
    workdir = Path(tempfile.mkdtemp(prefix="pii-scan-"))
    path = workdir / "customers.parquet"
    frame.to_parquet(path, index=False)
    cells = frame.shape[0] * frame.shape[1]
    console.print(
        f"table: {frame.shape[0]:,} rows x {frame.shape[1]} columns = {cells:,} cells, "
        f"{path.stat().st_size / 1e6:.0f} MB Parquet (built in {time.perf_counter() - started:.0f} s)"
    )
    analyzer = PiiAnalyzer.from_settings(settings)
    analyzer.analyze("warm up John Smith 4111 1111 1111 1111")

    # ---- the scan, end to end from the file -----------------------------------------------
    started = time.perf_counter()
    table = read_file(path)
    read_s = time.perf_counter() - started
    columns = sample_frame(table, sample_rows)
    scanner = TableScanner(analyzer, sample_rows=sample_rows)
    verdicts = {v.column: v for v in scanner.classify(columns)}
    scan_s = time.perf_counter() - started

    # ---- the baseline: Presidio on every cell of a sample of rows --------------------------
    rng = random.Random(5)
    picked = rng.sample(range(len(table)), args.baseline_rows)
    sample = table.iloc[picked]
    baseline_cells = 0
    base_verdicts = {}
    started = time.perf_counter()
    for column in sample.columns:
        texts = [str(v) for v in sample[column].tolist()]
        hits = {}
        for text in texts:
            found = analyzer.analyze(cell_with_header(str(column), text))
            hits[text] = covering(findings_in_cell(str(column), found), text)
            baseline_cells += 1
        base_verdicts[column] = verdict_of(column, texts, hits)
    base_s = time.perf_counter() - started
    per_cell = base_s / baseline_cells
    base_full_s = per_cell * cells

    out = Table(title="Column verdicts")
    for c in ("column", "scan", "how", "Presidio on every cell (sample)", "same"):
        out.add_column(c)
    same_all = True
    for column in table.columns:
        a = verdicts[str(column)].pii_types
        b = base_verdicts[column].pii_types
        same = a == b
        same_all &= same
        out.add_row(
            str(column),
            ", ".join(a) or "-",
            verdicts[str(column)].method,
            ", ".join(b) or "-",
            "yes" if same else "[red]NO[/red]",
        )
    console.print(out)

    speed = Table(title=f"Classifying {args.rows:,} x {frame.shape[1]}")
    for c in ("path", "time", "rows/s", "cells/s", "speed-up"):
        speed.add_column(c, justify="left" if c == "path" else "right")
    speed.add_row(
        f"governance scan (read {read_s:.1f} s + sample {sample_rows} + classify)",
        f"{scan_s:.1f} s",
        f"{args.rows / scan_s:,.0f}",
        f"{cells / scan_s:,.0f}",
        f"{base_full_s / scan_s:,.0f}x",
    )
    speed.add_row(
        f"Presidio analyze() on every cell: measured {baseline_cells:,} cells in "
        f"{base_s:.1f} s ({per_cell * 1000:.2f} ms/cell), EXTRAPOLATED",
        f"{base_full_s / 3600:.1f} h",
        f"{args.rows / base_full_s:,.0f}",
        f"{cells / base_full_s:,.0f}",
        "1x",
    )
    console.print(speed)
    ratio = base_full_s / scan_s
    console.print(
        f"speed-up {ratio:,.0f}x (target >= 20x) "
        + ("[green]ok[/green]" if ratio >= 20 else "[red]MISSED[/red]")
        + f"; same verdicts: {'yes' if same_all else '[red]NO[/red]'}"
    )
    path.unlink()
    workdir.rmdir()
    if not same_all:
        raise SystemExit("verdicts differ")


if __name__ == "__main__":
    main()
