"""Lineage wiring: the store chosen by settings, ingest, the outbox drain and the queries."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from governance.config import Settings
from governance.db import Database
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


def build_lineage(settings: Settings, db: Database, recorder: DecisionRecorder) -> LineageServices:
    store = build_store(settings, db)
    cfg = settings.lineage
    return LineageServices(
        store=store,
        ingest=LineageIngest(
            recorder, max_event_bytes=cfg.max_event_bytes, max_batch_events=cfg.max_batch_events
        ),
        drain=OutboxDrain(
            db,
            store,
            batch_size=cfg.drain_batch_size,
            idle_seconds=cfg.drain_interval_seconds,
            max_backoff=cfg.max_backoff_seconds,
        ),
        queries=LineageQueries(store),
        drain_in_process=cfg.drain_in_process,
    )
