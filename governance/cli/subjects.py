"""``governance consent`` and ``governance dsr``: consent records and privacy requests."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from governance.cli.common import console, err, load_settings
from governance.errors import GovernanceError

consent_app = typer.Typer(help="Consent and opt-out records.", no_args_is_help=True)
dsr_app = typer.Typer(
    help="Privacy requests: access, erasure, opt-out (data subject rights).", no_args_is_help=True
)


@contextmanager
def _services() -> Iterator[Any]:
    """The service objects (the same composition root as the API), closed on the way out."""
    from governance.errors import InvalidPolicy
    from governance.services import build_all

    settings = load_settings()
    try:
        services = build_all(settings)
    except InvalidPolicy as exc:
        err.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from exc
    try:
        yield services
    except GovernanceError as exc:
        err.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from exc
    finally:
        services.close()


BY = Annotated[str, typer.Option("--by", help="Who does this (recorded in the audit trail).")]


# ---- consent ----------------------------------------------------------------------------------


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@consent_app.command("import")
def consent_import(
    path: Annotated[
        Path, typer.Argument(help="CSV: customer_id,email,phone,purpose,status[,recorded_at]")
    ],
    by: BY = "import",
    batch: Annotated[int, typer.Option(help="Records per transaction.")] = 5000,
) -> None:
    """Import consent records from a CSV file (source ``import``); every row is checked first,
    and a file with a bad row imports nothing."""
    from governance.subjects.consent import NewConsent
    from governance.subjects.identifiers import SubjectIdentifiers

    if not path.exists():
        err.print(f"[red]no such file: {path}[/red]")
        raise typer.Exit(2)
    rows = _rows(path)
    items: list[NewConsent] = []
    for number, row in enumerate(rows, start=2):
        try:
            subject = SubjectIdentifiers(
                customer_id=row.get("customer_id") or None,
                email=row.get("email") or None,
                phone=row.get("phone") or None,
            )
            at = row.get("recorded_at")
            items.append(
                NewConsent(
                    subject,
                    (row.get("purpose") or "").strip(),
                    (row.get("status") or "").strip(),
                    "import",
                    datetime.fromisoformat(at) if at else None,
                    {"file": path.name, "line": number},
                )
            )
        except ValueError as exc:
            err.print(f"[red]{path.name}:{number}: {str(exc).splitlines()[0]}[/red]")
            raise typer.Exit(1) from exc
    with _services() as services:
        store = services.subjects.consents
        for i, item in enumerate(items):  # check everything before writing anything
            try:
                store.check(item, ("rows", i))
            except GovernanceError as exc:
                err.print(f"[red]{path.name}:{i + 2}: {exc.detail}[/red]")
                raise typer.Exit(1) from exc
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=err) as progress:
            task = progress.add_task("importing consent records", total=len(items))
            for start in range(0, len(items), batch):
                chunk = items[start : start + batch]
                store.record_many(chunk, by=by)
                progress.advance(task, len(chunk))
    console.print(f"imported {len(items)} consent record(s) from {path}")


# ---- privacy requests -------------------------------------------------------------------------


def _print_request(view: Any) -> None:
    data = view.public()
    table = Table(show_header=False)
    for key in (
        "id",
        "kind",
        "status",
        "jurisdiction",
        "identifier_kinds",
        "received_at",
        "due_at",
        "overdue",
        "reason",
        "plan_digest",
    ):
        table.add_row(key, str(data[key]))
    console.print(table)


@dsr_app.command("open")
def dsr_open(
    kind: Annotated[str, typer.Argument(help="access, erasure, rectification, opt_out, restrict")],
    jurisdiction: Annotated[str, typer.Option(help="gdpr or ccpa.")] = "gdpr",
    customer_id: Annotated[str | None, typer.Option(help="The subject's customer id.")] = None,
    email: Annotated[str | None, typer.Option(help="The subject's e-mail.")] = None,
    phone: Annotated[str | None, typer.Option(help="The subject's phone number.")] = None,
    by: BY = "cli",
) -> None:
    """Open a privacy request (prints its id and due date)."""
    from pydantic import ValidationError

    from governance.subjects.identifiers import SubjectIdentifiers

    try:
        subject = SubjectIdentifiers(customer_id=customer_id, email=email, phone=phone)
    except ValidationError as exc:
        err.print("[red]name the subject with --customer-id, --email or --phone[/red]")
        raise typer.Exit(2) from exc
    with _services() as services:
        view = services.subjects.requests.open(kind, subject, jurisdiction, by=by)
    _print_request(view)


@dsr_app.command("list")
def dsr_list(
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only overdue requests.")] = False,
) -> None:
    """The queue, soonest due first."""
    with _services() as services:
        views = services.subjects.requests.list(status=status, overdue=True if overdue else None)
    table = Table()
    for column in ("id", "kind", "status", "jurisdiction", "due", "overdue"):
        table.add_column(column)
    for view in views:
        data = view.public()
        table.add_row(
            view.id,
            view.kind,
            view.status,
            view.jurisdiction,
            data["due_at"][:10],
            "[red]overdue[/red]" if data["overdue"] else "",
        )
    console.print(table)


@dsr_app.command("show")
def dsr_show(request_id: str) -> None:
    """One request, with its result or plan, and its receipts."""
    with _services() as services:
        subjects = services.subjects
        view = subjects.requests.get(request_id)
        _print_request(view)
        access = subjects.stored_access(request_id)
        plan = subjects.stored_plan(request_id)
        receipts = subjects.eraser.receipts(request_id)
    if access is not None:
        _print_access(access)
    if plan is not None:
        _print_plan(plan)
    if receipts:
        _print_receipts(receipts)


@dsr_app.command("status")
def dsr_status(
    request_id: str,
    status: Annotated[str, typer.Argument(help="verified, in_progress, completed or denied")],
    reason: Annotated[str | None, typer.Option(help="Why (required to deny).")] = None,
    by: BY = "cli",
) -> None:
    """Move a request on; every change is recorded in the audit chain."""
    with _services() as services:
        view = services.subjects.requests.transition(request_id, status, by=by, reason=reason)
    _print_request(view)


@dsr_app.command("run")
def dsr_run(
    request_id: str,
    values: Annotated[
        bool, typer.Option("--values", help="Access: include the values held.")
    ] = False,
    out: Annotated[Path | None, typer.Option(help="Access: write the result as JSON.")] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run/--execute",
            help="Erasure: show the plan (default), or execute the plan named by --plan.",
        ),
    ] = True,
    plan: Annotated[
        str | None, typer.Option(help="Erasure: the digest of the plan that was shown.")
    ] = None,
    principal: Annotated[
        str, typer.Option("--as", help="Erasure: who erases (decided for them).")
    ] = "user:frank",
    region: Annotated[
        str | None, typer.Option(help="Erasure: the region attribute of its decisions.")
    ] = None,
    by: BY = "cli",
) -> None:
    """Work a request by its kind: access searches; erasure shows its plan (--dry-run, the
    default) or executes it (--execute --plan DIGEST); opt_out records the withdrawals."""
    with _services() as services:
        subjects = services.subjects
        view = subjects.requests.get(request_id)
        if view.kind == "access":
            result = subjects.access(request_id, include_values=values, by=by)
            _print_access(result)
            if out is not None:
                out.write_text(result.model_dump_json(indent=2))
                console.print(f"written to {out}")
        elif view.kind == "erasure" and dry_run:
            shown = subjects.plan_erasure(request_id, by=by)
            _print_plan(shown)
            console.print(
                f"nothing was erased. To execute: governance dsr run {request_id} --execute "
                f"--plan {shown.digest}"
            )
        elif view.kind == "erasure":
            if plan is None:
                err.print("[red]--execute needs --plan DIGEST (the plan that was shown)[/red]")
                raise typer.Exit(2)

            def decide(request: Any, caller: str) -> Any:
                return services.decisions.decide(request, caller)

            receipts = subjects.erase(request_id, plan, principal=principal, by=by, decide=decide)
            _print_receipts(receipts)
        elif view.kind == "opt_out":
            ids = subjects.opt_out(request_id, by=by)
            console.print(f"opt-out recorded (consent records {ids}); request completed")
        else:
            err.print(
                f"[yellow]{view.kind} requests are worked by a steward (not automated); move it "
                "on with 'governance dsr status'[/yellow]"
            )
            raise typer.Exit(1)


def _print_access(result: Any) -> None:
    table = Table(title="where the subject's data is")
    for column in ("dataset", "rows", "found by", "fields (PII types)", "derived from"):
        table.add_column(column, overflow="fold")
    for d in result.datasets:
        fields = ", ".join(
            f"{f.column} ({f.pii_type})" + (f" = {', '.join(f.values[:2])}" if f.values else "")
            for f in d.fields
            if f.pii_type not in ("NONE",)
        )
        table.add_row(
            d.dataset, str(d.rows), ", ".join(d.matched_by), fields, ", ".join(d.derived_from)
        )
    for d in result.derived:
        table.add_row(d.dataset, "?", "lineage", d.note, ", ".join(d.derived_from))
    for m in result.models:
        runs = ", ".join(f"{r.job} {r.run_id[:8]} {r.ended_at or ''}" for r in m.runs[:2])
        table.add_row(
            m.model, "-", "lineage (model)", f"{m.note}; runs: {runs}", ", ".join(m.trained_on)
        )
    console.print(table)
    purposes = ", ".join(
        f"{p.purpose} ({p.lawful_basis}, {p.retention_days} d)" for p in result.purposes
    )
    console.print(f"purposes: {purposes or '-'}")
    console.print(f"recipients: {', '.join(r.job for r in result.recipients) or '-'}")
    console.print(f"sources: {', '.join(result.sources) or '-'}")
    for gap in result.gaps:
        console.print(f"[yellow]gap:[/yellow] {gap}")


def _print_plan(plan: Any) -> None:
    table = Table(title=f"erasure plan {plan.digest[:16]}… (downstream first)")
    for column in ("step", "dataset", "action", "rows", "fields", "why"):
        table.add_column(column, overflow="fold")
    for s in plan.steps:
        table.add_row(str(s.step), s.dataset, s.action, str(s.rows), ", ".join(s.fields), s.why)
    console.print(table)


def _print_receipts(receipts: Any) -> None:
    table = Table(title="erasure receipts")
    for column in ("step", "dataset", "action", "status", "found", "erased", "check", "finished"):
        table.add_column(column, overflow="fold")
    for r in receipts:
        table.add_row(
            str(r.step),
            r.dataset,
            r.action,
            r.status,
            str(r.rows_found if r.rows_found is not None else "-"),
            str(r.rows_erased if r.rows_erased is not None else "-"),
            r.check,
            r.finished_at or "",
        )
    console.print(table)
