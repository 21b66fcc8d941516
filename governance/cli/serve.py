"""``governance serve`` and ``governance demo``."""

from __future__ import annotations

from typing import Annotated

import typer

from governance.cli.common import console, err, load_settings
from governance.logs import setup_logging


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes.")] = 1,
    migrate: Annotated[bool, typer.Option(help="Apply database migrations first.")] = True,
) -> None:
    """Run the HTTP API (uvicorn)."""
    import uvicorn

    from governance.pdp.bundle import analyse_policy_dir
    from governance.schema import upgrade

    settings = load_settings()
    setup_logging(settings.log_level)
    analysis = analyse_policy_dir(settings.policy_dir)
    if analysis.bundle is None:
        err.print(f"[red]policy does not load:[/red] {analysis.errors[0]}")
        raise typer.Exit(1)
    if migrate:
        upgrade(settings.database_url)
    uvicorn.run(
        "governance.api.main:app",
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        access_log=False,
    )


def demo(
    port: Annotated[int, typer.Option(help="Port of the demo service.")] = 8000,
    serve: Annotated[bool, typer.Option(help="Keep the service running after the demo.")] = True,
) -> None:
    """Start the service on embedded defaults and run the demo pipeline against it."""
    from governance.demo import run_demo

    settings = load_settings()
    setup_logging("WARNING")
    run_demo(settings, host="127.0.0.1", port=port, serve=serve, console=console)
