"""Lineage wiring: the store chosen by settings, ingest, the outbox drain and the queries."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from governance.config import Settings
from governance.db import Database, create_database
from governance.recorder import DecisionRecorder
from lineage.outbox import LineageIngest, OutboxDrain
from lineage.queries import LineageQueries
from lineage.store import LineageStore

log = logging.getLogger(__name__)


def build_store(settings: Settings, db: Database) -> LineageStore:
    """The store named by ``GOVERNANCE_LINEAGE__BACKEND`` (``sql`` by default)."""
    if settings.lineage.backend == "neo4j":
        from lineage.store.neo4j import Neo4jLineageStore

        return Neo4jLineageStore(
            settings.lineage.neo4j_uri,
            user=settings.lineage.neo4j_user,
            password=settings.lineage.neo4j_password.get_secret_value(),
            database=settings.lineage.neo4j_database,
        )
    from lineage.store.sql import SqlLineageStore

    return SqlLineageStore(db)


@dataclass
class LineageServices:
    store: LineageStore
    ingest: LineageIngest
    drain: OutboxDrain
    queries: LineageQueries
    drain_in_process: bool
    drain_db: Database | None = None

    def start(self) -> None:
        try:
            self.store.setup()
        except Exception as exc:  # the graph may be down at start-up: ingest still works
            log.warning(
                "lineage store not ready at start-up (%s); the outbox will wait", type(exc).__name__
            )
        if self.drain_in_process:
            self.drain.start()

    def close(self) -> None:
        self.drain.stop()
        self.store.close()
        if self.drain_db is not None:
            self.drain_db.dispose()


def build_lineage(settings: Settings, db: Database, recorder: DecisionRecorder) -> LineageServices:
    store = build_store(settings, db)
    cfg = settings.lineage
    drain_db = None
    if db.dialect == "sqlite":
        # The drain's leases and marks need no fsync (a batch redone after a power cut changes
        # nothing), and on SQLite every ingest commit waits while another holds the write lock:
        # its own engine commits them without waiting for the disk.
        drain_db = create_database(
            settings.database_url,
            lock_timeout=settings.database_lock_timeout_seconds,
            durable=False,
        )
    return LineageServices(
        store=store,
        ingest=LineageIngest(
            recorder, max_event_bytes=cfg.max_event_bytes, max_batch_events=cfg.max_batch_events
        ),
        drain=OutboxDrain(
            drain_db or db,
            store,
            batch_size=cfg.drain_batch_size,
            idle_seconds=cfg.drain_interval_seconds,
            max_backoff=cfg.max_backoff_seconds,
        ),
        queries=LineageQueries(store),
        drain_in_process=cfg.drain_in_process,
        drain_db=drain_db,
    )
