"""``governance db``: the SQL store's schema."""

from __future__ import annotations

from typing import Annotated

import typer

from governance.cli.common import console, err, load_settings

app = typer.Typer(help="The SQL store.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply the Alembic migrations up to REVISION (default: head)."""
    from governance.schema import upgrade

    settings = load_settings()
    upgrade(settings.database_url, revision)
    console.print(f"database at [bold]{revision}[/bold]")


@app.command("check")
def db_check() -> None:
    """Exit non-zero if the models and the migrated database differ."""
    from governance.schema import drift

    diff = drift(load_settings().database_url)
    if diff:
        for item in diff:
            err.print(str(item))
        raise typer.Exit(1)
    console.print("models and migrations agree")
