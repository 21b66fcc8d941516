"""``governance report``: build, render and verify the compliance reports."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from governance.cli.common import console, err
from governance.cli.subjects import _services
from governance.errors import GovernanceError
from governance.reports.envelope import PDF_SIDECAR

app = typer.Typer(
    help="Compliance reports: ropa, ccpa, ai, dsar, erasure, decisions; and verify.",
    no_args_is_help=True,
)

Format = Annotated[str, typer.Option("--format", help="json, html or pdf.")]
Out = Annotated[Path | None, typer.Option("--out", help="File to write (default: var/reports/).")]
Since = Annotated[datetime | None, typer.Option(help="Start of the period (ISO 8601).")]
Until = Annotated[datetime | None, typer.Option(help="End of the period (default: now).")]
BY = Annotated[str, typer.Option("--by", help="Who asks (recorded in the audit trail).")]


def _make(kind: str, fmt: str, out: Path | None, by: str, **params: object) -> Path:
    from governance.reports.service import ReportParams
    from governance.timestamps import to_utc

    values = {k: (to_utc(v) if isinstance(v, datetime) else v) for k, v in params.items()}
    with _services() as services:
        reports = services.reports
        try:
            envelope = reports.build(kind, ReportParams(**values), by=by)  # type: ignore[arg-type]
            rendered = reports.render(envelope, fmt)
        except GovernanceError as exc:
            err.print(f"[red]{exc.detail}[/red]")
            raise typer.Exit(1) from exc
    path = out or Path("var/reports") / f"{kind}-{envelope.generated_at[:10]}.{rendered.extension}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(rendered.body)
    if rendered.sidecar is not None:
        Path(str(path) + PDF_SIDECAR).write_bytes(rendered.sidecar)
    console.print(
        f"{envelope.title}: {path} (signed with key {envelope.signature.kid if envelope.signature else '-'})"
    )
    return path


@app.command("ropa")
def report_ropa(
    fmt: Format = "html", out: Out = None, since: Since = None, until: Until = None, by: BY = "cli"
) -> None:
    """The record of processing activities (GDPR Art. 30), with divergences flagged."""
    _make("ropa", fmt, out, by, since=since, until=until)


@app.command("ccpa")
def report_ccpa(fmt: Format = "html", out: Out = None, until: Until = None, by: BY = "cli") -> None:
    """The CCPA report for the 12 months before --until."""
    _make("ccpa", fmt, out, by, until=until)


@app.command("ai")
def report_ai(
    model: Annotated[str, typer.Argument(help="The model dataset, ns/name.")],
    fmt: Format = "html",
    out: Out = None,
    since: Since = None,
    until: Until = None,
    by: BY = "cli",
) -> None:
    """The AI pipeline report of one model."""
    _make("ai", fmt, out, by, model=model, since=since, until=until)


@app.command("dsar")
def report_dsar(
    request_id: Annotated[str, typer.Argument(help="The access request.")],
    fmt: Format = "html",
    out: Out = None,
    by: BY = "cli",
) -> None:
    """The document answering an access request (GDPR Art. 15)."""
    _make("dsar", fmt, out, by, request_id=request_id)


@app.command("erasure")
def report_erasure(
    request_id: Annotated[str, typer.Argument(help="The erasure request.")],
    fmt: Format = "html",
    out: Out = None,
    by: BY = "cli",
) -> None:
    """The erasure receipts of a request (GDPR Art. 17), as proof."""
    _make("erasure", fmt, out, by, request_id=request_id)


@app.command("decisions")
def report_decisions(
    fmt: Format = "html",
    out: Out = None,
    dataset: Annotated[str | None, typer.Option(help="Only this dataset (ns/name).")] = None,
    subject: Annotated[str | None, typer.Option(help="Only this subject (user:…).")] = None,
    purpose: Annotated[str | None, typer.Option(help="Only this purpose.")] = None,
    since: Since = None,
    until: Until = None,
    by: BY = "cli",
) -> None:
    """A decision audit extract, with the chain's verification result."""
    _make(
        "decisions",
        fmt,
        out,
        by,
        dataset=dataset,
        subject=subject,
        purpose=purpose,
        since=since,
        until=until,
    )


@app.command("verify")
def report_verify(
    path: Annotated[Path, typer.Argument(help="A report file (json, html, or pdf).")],
    offline: Annotated[
        bool, typer.Option("--offline", help="Check the signature only, not the audit trail.")
    ] = False,
) -> None:
    """Check a report: its signature, its bytes, and that the audit records it relied on are
    still in the trail. Exit 1 if anything fails."""
    if not path.exists():
        err.print(f"[red]no such file: {path}[/red]")
        raise typer.Exit(2)
    data = path.read_bytes()
    sidecar_path = Path(str(path) + PDF_SIDECAR)
    sidecar = sidecar_path.read_bytes() if sidecar_path.exists() else None
    with _services() as services:
        reports = services.reports
        if offline:
            from governance.reports.envelope import check
            from governance.reports.render import render_html

            keys = {k.key_id: k for k in reports.signer.public_keys()}
            result = check(data, keys, render_html=render_html, sidecar=sidecar)
        else:
            result = reports.verify(data, sidecar=sidecar)
    if result.ok:
        anchored = "" if result.anchored is None else ", its audit anchor is still in the trail"
        console.print(
            f"[green]verified[/green]: {result.title} ({result.kind}), made {result.generated_at}, "
            f"signed with key {result.kid}{anchored}"
        )
        return
    err.print(f"[red]NOT verified[/red]: {path}")
    for problem in result.problems:
        err.print(f"  - {problem}")
    raise typer.Exit(1)
