"""Outbox status on SQLite and PostgreSQL: the counts, and a stored error that a fresh process
(no memory of the failure) still reports until the events get through."""

from __future__ import annotations

import time
import uuid
from typing import Any

from governance.db import Database
from governance.errors import Unavailable
from lineage.outbox import OutboxDrain, enqueue
from lineage.store.sql import SqlLineageStore
from tests.lineage_events import run_event


class FlakyStore(SqlLineageStore):
    """The embedded store, down until told otherwise (a stand-in for a dead Neo4j)."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.down = True

    def write_prepared(self, prepared: Any) -> None:
        if self.down:
            raise Unavailable("lineage graph unavailable: connection refused")
        super().write_prepared(prepared)

    def write(self, events: Any) -> None:
        if self.down:
            raise Unavailable("lineage graph unavailable: connection refused")
        super().write(events)


def test_status_counts_and_a_stored_error_survive_a_restart(database: Database) -> None:
    events = [run_event(("etl", f"job{i}"), str(uuid.uuid4())) for i in range(5)]
    assert enqueue(database, events, "api") == 5
    store = FlakyStore(database)
    store.setup()
    first = OutboxDrain(database, store, batch_size=10, max_backoff=0.01)
    assert first.drain_once() == 0
    status = first.status()
    assert (status.pending, status.dead, status.processed) == (5, 0, 0)
    assert "connection refused" in (status.last_error or "")

    restarted = OutboxDrain(database, store, batch_size=10, max_backoff=0.01)
    assert "connection refused" in (restarted.status().last_error or "")  # read from the table

    store.down = False
    deadline = 50
    while restarted.status().pending and deadline:
        restarted.drain_once()
        deadline -= 1
        time.sleep(0.02)  # past the retry lease
    status = restarted.status()
    assert (status.pending, status.dead, status.processed) == (0, 0, 5)
    assert status.last_error is None  # nothing pending carries an error any more
