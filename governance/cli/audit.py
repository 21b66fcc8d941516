"""``governance audit``: verify, export and anchor the audit trail."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from governance.cli.common import console, err, load_settings, signer

app = typer.Typer(help="The audit trail.", no_args_is_help=True)


@app.command("verify")
def audit_verify(
    checkpoints: Annotated[
        Path | None,
        typer.Option(
            "--checkpoints",
            help="Anchor file of signed checkpoints (default: the configured anchor file).",
        ),
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option(
            "--public-key",
            help="Published signing keys (JSON from 'governance keys public' or "
            "GET /v1/reports/keys); default: the service's own key ring.",
        ),
    ] = None,
    records: Annotated[
        Path | None,
        typer.Option(
            "--records",
            help="Verify an export ('governance audit export') instead of the database: no "
            "database and no audit key needed.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Verify every audit chain and every anchored checkpoint; exit 1 if anything is broken.

    With --records, --checkpoints and --public-key an auditor checks a copy offline."""
    import dataclasses
    import json as jsonlib

    from governance.audit.checkpoints import read_checkpoint_file
    from governance.audit.verify import ExportError, verify_database, verify_export
    from governance.signing import KeySetError, parse_keyset

    settings = load_settings()
    anchor = checkpoints or settings.anchor_file()
    try:
        stored = read_checkpoint_file(anchor) if anchor is not None and anchor.exists() else []
        if checkpoints is not None and not checkpoints.exists():
            raise FileNotFoundError(str(checkpoints))
        if public_key is not None:
            keys = parse_keyset(jsonlib.loads(public_key.read_text()))
        else:
            keys = {k.key_id: k for k in signer(settings).public_keys()}
        if records is not None:
            result = verify_export(records, stored, keys)
        else:
            from governance.audit import AuditLog
            from governance.db import database_from_settings

            db = database_from_settings(settings)
            audit = AuditLog(db, settings.audit.hmac_key.get_secret_value().encode())
            result = verify_database(audit, stored, keys)
            db.dispose()
    except (OSError, ValueError, KeySetError, ExportError) as exc:
        err.print(f"[red]cannot verify: {exc}[/red]")
        raise typer.Exit(2) from exc
    if as_json:
        print(jsonlib.dumps(dataclasses.asdict(result), indent=2))
    elif result.ok:
        console.print(str(result))
        for warning in result.warnings:
            console.print(f"[yellow]warning:[/yellow] {warning}")
    else:
        err.print(f"[red]{result}[/red]")
    if not result.ok:
        raise typer.Exit(1)


@app.command("export")
def audit_export(
    out: Annotated[Path, typer.Option("--out", help="File to write (JSON lines).")],
) -> None:
    """Write every audit record, chain by chain, for offline verification by an auditor."""
    from governance.audit import AuditLog
    from governance.audit.verify import write_export
    from governance.db import database_from_settings

    settings = load_settings()
    db = database_from_settings(settings)
    written = write_export(AuditLog(db, b""), out)
    db.dispose()
    console.print(f"{written} record(s) written to {out}")


@app.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign the current chain heads and append them to the anchor sinks now."""
    from governance.audit import AuditLog, Checkpointer
    from governance.db import database_from_settings
    from governance.services import anchor_sinks

    settings = load_settings()
    sinks = anchor_sinks(settings)
    if not sinks:
        err.print("[red]no anchor sink is configured[/red]")
        raise typer.Exit(2)
    db = database_from_settings(settings)
    checkpointer = Checkpointer(AuditLog(db, b""), signer(settings), sinks)
    checkpoint = checkpointer.checkpoint_now()
    db.dispose()
    if checkpointer.last_error:
        err.print(f"[red]{checkpointer.last_error}[/red]")
        raise typer.Exit(1)
    if checkpoint is None:
        console.print("nothing to anchor (no records, or already anchored)")
        return
    console.print(
        f"anchored {checkpoint['records']} record(s) in {len(checkpoint['chains'])} chain(s), "
        f"root {checkpoint['root'][:16]}…, key {checkpoint['kid']}"
    )
