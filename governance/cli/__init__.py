"""The ``governance`` command line. One module per command group; the service objects come
from the one composition root (``governance.services``)."""

from __future__ import annotations

import typer

from governance.cli import (
    audit,
    db,
    keys,
    lineage,
    neo4j,
    pii,
    policy,
    reports,
    serve,
    subjects,
)

app = typer.Typer(
    help="Data governance and compliance service.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.command()(serve.serve)
app.command()(serve.demo)
app.command()(pii.scan)
app.add_typer(db.app, name="db")
app.add_typer(policy.app, name="policy")
app.add_typer(audit.app, name="audit")
app.add_typer(keys.app, name="keys")
app.add_typer(pii.classify_app, name="classify")
app.add_typer(pii.pii_app, name="pii")
app.add_typer(neo4j.app, name="neo4j")
app.add_typer(lineage.app, name="lineage")
app.add_typer(subjects.consent_app, name="consent")
app.add_typer(subjects.dsr_app, name="dsr")
app.add_typer(reports.app, name="report")


def main() -> None:  # pragma: no cover - console entry
    app()
