"""``governance neo4j start|stop`` and ``governance lineage status|drain|replay``, for real."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, update
from typer.testing import CliRunner

from governance.cli import app
from governance.config import get_settings
from governance.db import create_database
from lineage.neo4j_server import detached, free_port
from lineage.outbox import TABLE
from lineage.store.neo4j import Neo4jLineageStore
from tests.lineage_events import dataset, run_event

pytestmark = pytest.mark.neo4j


def test_neo4j_start_detached_drain_into_it_and_stop(
    tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("java") is None:
        pytest.skip("needs Java")
    runner = CliRunner()
    home = tmp_path / "neo4j"
    port = free_port()
    started = runner.invoke(
        app, ["neo4j", "start", "--detach", "--home", str(home), "--port", str(port)]
    )
    assert started.exit_code == 0, started.output
    try:
        running = detached(home)
        assert running is not None
        assert running[1] == port
        again = runner.invoke(app, ["neo4j", "start", "--detach", "--home", str(home)])
        assert "already running" in again.output

        db_path = tmp_path / "gov.db"
        shutil.copy(sqlite_template, db_path)
        monkeypatch.setenv("GOVERNANCE_DATABASE_URL", f"sqlite:///{db_path}")
        monkeypatch.setenv("GOVERNANCE_LINEAGE__BACKEND", "neo4j")
        monkeypatch.setenv("GOVERNANCE_LINEAGE__NEO4J_URI", f"bolt://127.0.0.1:{port}")
        get_settings.cache_clear()
        db = create_database(f"sqlite:///{db_path}")
        events = [
            run_event(
                ("cli", "job"),
                "00000000-0000-4000-8000-000000000001",
                "COMPLETE",
                "2026-11-28T10:00:00Z",
                inputs=[dataset("cli", "in")],
                outputs=[dataset("cli", "out")],
            ),
            {"eventType": "COMPLETE", "not": "an event"},  # stored, then refused by the drain
        ]
        with db.write_session() as session:  # as the service's recorder stores accepted events
            session.execute(
                insert(TABLE),
                [
                    {
                        "received_at": datetime.now(UTC),
                        "source": "test",
                        "payload": json.dumps(e),
                        "attempts": 0,
                        "dead": False,
                    }
                    for e in events
                ],
            )
            session.commit()
        status = runner.invoke(app, ["lineage", "status"])
        assert status.exit_code == 0, status.output
        assert "2" in status.output  # both wait
        drained = runner.invoke(app, ["lineage", "drain", "--timeout", "60"])
        assert "wrote 1 event(s)" in drained.output, drained.output
        graph = Neo4jLineageStore(f"bolt://127.0.0.1:{port}")
        try:
            assert graph.stats().jobs == 1
        finally:
            graph.close()
        with db.write_session() as session:  # the unparseable one gave up: give it a chance
            session.execute(update(TABLE).values(dead=True).where(TABLE.c.processed_at.is_(None)))
            session.commit()
        replayed = runner.invoke(app, ["lineage", "replay"])
        assert "1 dead event(s) queued again" in replayed.output
        db.dispose()
    finally:
        get_settings.cache_clear()
        stopped = runner.invoke(app, ["neo4j", "stop", "--home", str(home)])
    assert stopped.exit_code == 0
    assert "stopped" in stopped.output
    assert detached(home) is None
