"""``governance lineage``: the outbox and the graph."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from governance.cli.common import console, err, load_settings
from governance.config import Settings
from governance.logs import setup_logging

if TYPE_CHECKING:
    from lineage.outbox import OutboxDrain

app = typer.Typer(help="The lineage outbox and graph.", no_args_is_help=True)


@contextmanager
def _drain() -> Iterator[tuple[Settings, OutboxDrain]]:
    from governance.db import database_from_settings
    from lineage.outbox import OutboxDrain
    from lineage.service import build_store

    settings = load_settings()
    db = database_from_settings(settings)
    store = build_store(settings, db)
    try:
        yield settings, OutboxDrain(db, store, batch_size=settings.lineage.drain_batch_size)
    finally:
        store.close()
        db.dispose()


@app.command("status")
def lineage_status() -> None:
    """Outbox depth, dead events and the last error of the lineage store."""
    with _drain() as (_, drain):
        status = drain.status()
    table = Table(show_header=False)
    for key, value in (
        ("backend", status.backend),
        ("waiting in the outbox", status.pending),
        ("dead (gave up)", status.dead),
        ("written to the graph", status.processed),
        ("last error", status.last_error or "-"),
    ):
        table.add_row(key, str(value))
    console.print(table)


@app.command("drain")
def lineage_drain(
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 600.0,
) -> None:
    """Write what waits in the outbox to the lineage store now (the service does it by itself)."""
    from governance.errors import Unavailable

    with _drain() as (settings, drain):
        setup_logging(settings.log_level)
        try:
            drain.store.setup()
        except Unavailable as exc:
            err.print(f"[red]{exc.detail}[/red]")
            raise typer.Exit(1) from exc
        done = drain.drain_all(timeout=timeout)
        status = drain.status()
    console.print(f"wrote {done} event(s); {status.pending} waiting, {status.dead} dead")
    if status.pending:
        err.print(f"[red]not drained:[/red] {status.last_error or 'timed out'}")
        raise typer.Exit(1)


@app.command("replay")
def lineage_replay() -> None:
    """Give dead outbox events another chance (after fixing what broke them)."""
    with _drain() as (_, drain):
        console.print(f"{drain.replay_dead()} dead event(s) queued again")
