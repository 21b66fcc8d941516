"""``governance neo4j``: a local Neo4j server from Maven jars."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from governance.cli.common import console, err

app = typer.Typer(help="A local Neo4j server (Maven jars + launcher).", no_args_is_help=True)

Neo4jHome = Annotated[Path, typer.Option("--home", help="Where the Neo4j store and its log live.")]


@app.command("fetch")
def neo4j_fetch() -> None:
    """Copy the Neo4j Community jars from Maven (once; cached under .cache/neo4j)."""
    from lineage.neo4j_server import Neo4jUnavailable, fetch

    try:
        target = fetch(quiet=False)
    except Neo4jUnavailable as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"Neo4j jars in {target}")


@app.command("start")
def neo4j_start(
    home: Neo4jHome = Path(".cache/neo4j/server"),
    port: Annotated[int, typer.Option(help="Bolt port on 127.0.0.1.")] = 7687,
    heap: Annotated[str, typer.Option(help="JVM heap (-Xmx).")] = "1g",
    page_cache_mb: Annotated[int, typer.Option(help="Page cache in MiB.")] = 512,
    detach: Annotated[
        bool, typer.Option(help="Return once it is up; stop it with neo4j stop.")
    ] = False,
) -> None:
    """Start Neo4j on bolt://127.0.0.1:PORT (auth off) for GOVERNANCE_LINEAGE__NEO4J_URI."""
    from lineage.neo4j_server import Neo4jServer, Neo4jUnavailable, detached

    running = detached(home)
    if running is not None:
        console.print(f"already running: pid {running[0]}, bolt://127.0.0.1:{running[1]}")
        return
    server = Neo4jServer(home, port, heap=heap, page_cache_mb=page_cache_mb)
    try:
        server.start()
    except Neo4jUnavailable as exc:
        err.print(f"[red]{exc}[/red]")
        server.kill()
        raise typer.Exit(1) from exc
    server.record()
    if detach:
        server.forget()
    console.print(f"Neo4j up on {server.uri} (store {home}, log {server.log})", soft_wrap=True)
    console.print(
        f"  export GOVERNANCE_LINEAGE__BACKEND=neo4j GOVERNANCE_LINEAGE__NEO4J_URI={server.uri}",
        soft_wrap=True,
    )
    if server.process is None:  # detached
        return
    console.print("Ctrl-C stops it.")
    try:
        assert server.process is not None
        server.process.wait()
    except KeyboardInterrupt:
        server.stop()
    finally:
        server.pidfile.unlink(missing_ok=True)


@app.command("stop")
def neo4j_stop(home: Neo4jHome = Path(".cache/neo4j/server")) -> None:
    """Stop a server started with neo4j start --detach."""
    from lineage.neo4j_server import stop_detached

    if stop_detached(home):
        console.print("stopped")
    else:
        console.print(f"no Neo4j running from {home}")
