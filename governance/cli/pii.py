"""``governance scan``, ``governance classify`` and ``governance pii``: PII in tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from governance.cli.common import console, err, load_settings
from governance.errors import GovernanceError

pii_app = typer.Typer(help="PII tokens: migration of legacy tokens.", no_args_is_help=True)

classify_app = typer.Typer(
    help="Column classifications: review what scans suggest.", no_args_is_help=True
)


def scan(
    source: Annotated[str, typer.Argument(help="A CSV/Parquet file, or a SQLAlchemy URL.")],
    table: Annotated[str | None, typer.Option(help="Table name (with a URL source).")] = None,
    sample: Annotated[int | None, typer.Option(help="Values sampled per column.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    dataset: Annotated[
        str | None, typer.Option(help="ns/name: store the verdicts as suggestions for it.")
    ] = None,
) -> None:
    """Classify every column of a table: PII types, confidence, evidence."""
    import json as jsonlib
    import time

    from rich.progress import Progress

    from governance.pii.analyzer import PiiAnalyzer, PiiUnavailable
    from governance.pii.scan import TableScanner, read_file, sample_frame, sample_sql

    settings = load_settings()
    rows = sample or settings.pii.scan_sample_rows
    started = time.perf_counter()
    try:
        if "://" in source:
            if not table:
                err.print("[red]a URL source needs --table[/red]")
                raise typer.Exit(2)
            columns = sample_sql(source, table, rows)
        else:
            path = Path(source)
            if not path.exists():
                err.print(f"[red]no such file: {source}[/red]")
                raise typer.Exit(2)
            columns = sample_frame(read_file(path), rows)
    except typer.Exit:
        raise
    except Exception as exc:
        err.print(f"[red]cannot read {source}: {type(exc).__name__}: {exc}[/red]")
        raise typer.Exit(1) from exc
    try:
        analyzer = PiiAnalyzer.from_settings(settings)
    except PiiUnavailable as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    scanner = TableScanner(analyzer, sample_rows=rows)
    with Progress(console=err, transient=True, disable=as_json) as progress:
        task = progress.add_task("classifying columns", total=len(columns))
        verdicts = scanner.classify(columns, progress=lambda _: progress.advance(task))
    took = time.perf_counter() - started
    stored = None
    if dataset:
        from governance.db import database_from_settings
        from governance.pdp.decision import DATASET_RE
        from governance.pii.classifications import ClassificationStore
        from lineage.outbox import enqueue

        if not DATASET_RE.fullmatch(dataset):
            err.print(f"[red]--dataset must be ns/name, not {dataset!r}[/red]")
            raise typer.Exit(2)
        db = database_from_settings(settings)
        store = ClassificationStore(db, events=lambda events: enqueue(db, events, "scan"))
        stored = len(store.record_scan(dataset, [v.suggestion() for v in verdicts]))
        db.dispose()
    if as_json:
        print(
            jsonlib.dumps(
                {
                    "source": source,
                    "table": table,
                    "seconds": round(took, 3),
                    "columns": [v.public() for v in verdicts],
                },
                indent=2,
            )
        )
        return
    out = Table(
        title=f"{source}{'#' + table if table else ''}: {len(verdicts)} columns in {took:.1f} s"
    )
    for column in ("column", "PII type", "confidence", "sampled", "how", "why"):
        out.add_column(column, overflow="fold")
    for v in verdicts:
        out.add_row(
            v.column,
            ", ".join(v.pii_types) or "-",
            f"{v.confidence:.2f}",
            str(v.sampled),
            v.method,
            "; ".join(v.explanation) or "-",
        )
    console.print(out)
    if stored is not None:
        console.print(
            f"stored as suggestions for {dataset} ({stored} rows); review them with 'governance classify list'"
        )


def _classifications() -> tuple[Any, Any]:
    from governance.db import database_from_settings
    from governance.pii.classifications import ClassificationStore
    from lineage.outbox import enqueue

    settings = load_settings()
    db = database_from_settings(settings)
    return ClassificationStore(db, events=lambda events: enqueue(db, events, "classification")), db


@classify_app.command("list")
def classify_list(
    dataset: Annotated[str | None, typer.Option(help="Only this dataset (ns/name).")] = None,
    status: Annotated[str | None, typer.Option(help="suggested, confirmed or rejected.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Classifications and their review status."""
    import json as jsonlib

    store, db = _classifications()
    found = store.list(dataset=dataset, status=status)
    if as_json:
        print(
            jsonlib.dumps(
                [c.public() for c in found],  # the API's shape (GET /v1/pii/classifications)
                indent=2,
            )
        )
        db.dispose()
        return
    out = Table()
    for column in (
        "dataset",
        "column",
        "PII type",
        "status",
        "source",
        "confidence",
        "reviewed by",
    ):
        out.add_column(column)
    for c in found:
        out.add_row(
            c.dataset,
            c.column,
            c.pii_type,
            c.status,
            c.source,
            f"{c.confidence:.2f}",
            c.reviewed_by or "",
        )
    console.print(out)
    db.dispose()


def _review(dataset: str, column: str, pii_type: str, status: str, by: str) -> None:
    from governance.pdp.bundle import analyse_policy_dir

    store, db = _classifications()
    analysis = analyse_policy_dir(load_settings().policy_dir)
    known = analysis.bundle.pii_types if analysis.bundle is not None else None
    try:
        c = store.review(dataset, column, pii_type, status=status, by=by, known_types=known)
    except GovernanceError as exc:
        err.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from exc
    finally:
        db.dispose()
    console.print(f"{c.dataset}.{c.column}: {c.pii_type} {c.status} by {c.reviewed_by}")


Reviewer = Annotated[str, typer.Option("--by", help="Who reviews (recorded).")]


@classify_app.command("confirm")
def classify_confirm(dataset: str, column: str, pii_type: str, by: Reviewer) -> None:
    """Confirm PII_TYPE for DATASET.COLUMN; decisions use it from now on."""
    _review(dataset, column, pii_type, "confirmed", by)


@classify_app.command("reject")
def classify_reject(dataset: str, column: str, pii_type: str, by: Reviewer) -> None:
    """Reject a suggested PII_TYPE for DATASET.COLUMN; later scans do not bring it back."""
    _review(dataset, column, pii_type, "rejected", by)


@pii_app.command("rebind")
def pii_rebind(
    url_env: Annotated[
        str,
        typer.Argument(
            help="Name of the environment variable holding the table's SQLAlchemy URL "
            "(never the URL itself: it may hold a password)."
        ),
    ],
    table: Annotated[str, typer.Option(help="Table holding legacy tokens.")],
    column: Annotated[str, typer.Option(help="Column holding them.")],
    key: Annotated[str, typer.Option(help="Column that identifies a row.")],
    dataset: Annotated[str, typer.Option(help="ns/name: the dataset tokens are bound to.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run/--apply", help="Count only (default), or rewrite.")
    ] = True,
) -> None:
    """Rewrite encryption tokens made before binding (enc_…) as tokens bound to their dataset
    and column (encb_…). See the README's migration notes."""
    import os

    import sqlalchemy as sa

    from governance.pdp.decision import DATASET_RE
    from governance.pii.keyring import KeyRingError, keyring_from_settings
    from governance.pii.operators import Protector
    from governance.pii.rebind import rebind

    settings = load_settings()
    url = os.environ.get(url_env)
    if not url:
        err.print(f"[red]environment variable {url_env} is not set[/red]")
        raise typer.Exit(2)
    if not DATASET_RE.fullmatch(dataset):
        err.print(f"[red]--dataset must be ns/name, not {dataset!r}[/red]")
        raise typer.Exit(2)
    try:
        protector = Protector(keyring_from_settings(settings))
    except KeyRingError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    engine = sa.create_engine(url, hide_parameters=True)
    try:
        result = rebind(
            engine,
            table,
            column,
            key,
            dataset=dataset,
            protector=protector,
            apply=not dry_run,
        )
    except sa.exc.SQLAlchemyError as exc:
        err.print(f"[red]cannot rebind: {type(exc).__name__}: {str(exc)[:300]}[/red]")
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    verb = "would rebind" if dry_run else "rebound"
    done = result.legacy - result.unreadable if dry_run else result.rebound
    console.print(
        f"{result.legacy} legacy token(s) in {table}.{column}; {verb} {done}; "
        f"{result.unreadable} not made by this key ring; {result.changed_meanwhile} changed "
        "meanwhile"
    )
    if result.unreadable:
        raise typer.Exit(1)
