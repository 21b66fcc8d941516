"""What every command shares: the consoles, the settings, and small helpers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from governance.config import Settings, get_settings

console = Console()
err = Console(stderr=True)


def load_settings() -> Settings:
    """The settings, or exit 2 with the configuration error."""
    try:
        return get_settings()
    except Exception as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


PolicyDir = Annotated[
    Path | None,
    typer.Option("--dir", help="Policy directory (default: GOVERNANCE_POLICY_DIR or policies/)."),
]


def signer(settings: Settings) -> Any:
    """The service's Ed25519 signer (from the key ring), or exit 2 saying why not."""
    from governance.pii.keyring import KeyRingError, keyring_from_settings
    from governance.signing import Signer

    try:
        return Signer(keyring_from_settings(settings))
    except KeyRingError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
