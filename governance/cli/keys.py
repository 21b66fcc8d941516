"""``governance keys``: API keys of callers, and the key ring."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from governance.cli.common import console, err, load_settings, signer
from governance.errors import GovernanceError

if TYPE_CHECKING:
    from governance.callers import ApiKeys

app = typer.Typer(help="API keys of callers, and the PII/signing key ring.", no_args_is_help=True)


def _keys() -> ApiKeys:
    from governance.callers import ApiKeys
    from governance.db import database_from_settings

    return ApiKeys(database_from_settings(load_settings()))


@app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="service, auditor, steward or admin.")],
    name: Annotated[str, typer.Option(help="Who the key is for (unique).")],
    acts_for: Annotated[
        str,
        typer.Option(
            "--acts-for",
            help="Principals the key may ask decisions for, comma-separated "
            "(service:churn-pipeline,user:*); none by default.",
        ),
    ] = "",
) -> None:
    """Create an API key and print it once; only its hash is stored."""
    keys = _keys()
    try:
        caller, token = keys.create(name, role, acts_for)
    except GovernanceError as exc:
        err.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from exc
    err.print(f"created {caller.role.value} key {caller.name!r}; it is shown only now:")
    print(token)


@app.command("bind")
def keys_bind(
    name: Annotated[str, typer.Option(help="Name of the key.")],
    acts_for: Annotated[
        str, typer.Option("--acts-for", help="Principals, comma-separated (replaces the list).")
    ],
) -> None:
    """Set the principals an existing key may act for."""
    keys = _keys()
    try:
        principals = keys.bind(name, acts_for)
    except GovernanceError as exc:
        err.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"{name} acts for: {', '.join(principals) or 'nobody'}")


@app.command("list")
def keys_list() -> None:
    """List keys (never their secrets)."""
    import json

    keys = _keys()
    table = Table()
    for column in ("id", "name", "role", "acts for", "created", "revoked"):
        table.add_column(column)
    for row in keys.list():
        table.add_row(
            row.id,
            row.name,
            row.role,
            ", ".join(json.loads(row.acts_for or "[]")),
            str(row.created_at),
            str(row.revoked_at or ""),
        )
    console.print(table)


@app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Option(help="Name of the key.")]) -> None:
    """Revoke a key; it stops working within the key cache time."""
    keys = _keys()
    try:
        keys.revoke(name)
    except GovernanceError as exc:
        err.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"revoked {name}")


# ---- the PII key ring ----------------------------------------------------------------------

KeyFile = Annotated[
    Path | None,
    typer.Option("--key-file", help="Key ring file (default: GOVERNANCE_PII__KEY_FILE)."),
]


def _key_file(key_file: Path | None) -> Path:
    from governance.pii.keyring import DEV_KEY_FILE

    settings = load_settings()
    if key_file is not None:
        return key_file
    if settings.pii.key_ring is not None:
        err.print(
            "[red]the key ring comes from GOVERNANCE_PII__KEY_RING; rotate the file it is "
            "injected from (--key-file) and redeploy[/red]"
        )
        raise typer.Exit(2)
    return settings.pii.key_file or DEV_KEY_FILE


@app.command("rotate")
def keys_rotate(key_file: KeyFile = None) -> None:
    """Add a PII key and make it active (creates the ring if there is none).

    New tokens and hashes use the new key; encryption tokens made with older keys still
    reverse, since rotation never removes a key. Restart the service (or its workers) to use it.
    """
    from governance.pii.keyring import KeyRing, KeyRingError

    path = _key_file(key_file)
    try:
        ring = KeyRing.load(path).rotate() if path.exists() else KeyRing.generate(str(path))
        ring.save(path)
    except KeyRingError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"active key is now {ring.active_id}; the ring {path} holds {len(ring.keys)}")


@app.command("public")
def keys_public(
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file.")] = None,
) -> None:
    """The public halves of the signing keys (what verifiers of checkpoints and reports need)."""
    import json as jsonlib

    text = jsonlib.dumps(signer(load_settings()).keyset(), indent=2)
    if out is None:
        print(text)
    else:
        out.write_text(text + "\n")
        console.print(f"public keys written to {out}")


@app.command("ring")
def keys_ring(key_file: KeyFile = None) -> None:
    """List the PII key ring's key ids (never their material)."""
    from governance.pii.keyring import KeyRing, KeyRingError

    path = _key_file(key_file)
    try:
        ring = KeyRing.load(path)
    except KeyRingError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    table = Table()
    for column in ("key id", "created", "active"):
        table.add_column(column)
    for key in ring.keys:
        table.add_row(key.id, key.created.isoformat(), "yes" if key.id == ring.active_id else "")
    console.print(table)
