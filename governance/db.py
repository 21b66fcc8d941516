"""Engines and sessions for the SQL store (SQLite by default, PostgreSQL by URL).

SQLite runs in WAL mode with a busy timeout. Writers that must serialize (the audit chain,
the outbox) use ``write_engine``, whose transactions start with ``BEGIN IMMEDIATE`` so that
two processes never both read the chain head and then race to extend it. On PostgreSQL the
same code takes a row lock (``SELECT … FOR UPDATE``) instead.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlmodel import Session, create_engine

from governance.config import Settings


@dataclass(frozen=True)
class Database:
    """The engines of one SQL store: ``engine`` for reads, ``write_engine`` for serialized writes."""

    engine: Engine
    write_engine: Engine
    writer_lock: Path | None = None
    """SQLite file stores: a lock file the busiest writers queue on (``serialized``)."""
    lock_timeout: float = 2.0

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A read session (or plain writes that need no serialization)."""
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """A session whose transaction holds the SQLite write lock from its first statement.

        Use it for every transaction that writes: a deferred SQLite transaction that reads and
        then writes cannot wait for the lock (WAL gives it SQLITE_BUSY at once when another
        writer committed since its read), so a read-modify-write must take the lock first."""
        with Session(self.write_engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def serialized(self) -> Iterator[None]:
        """Hold the store's writer lock file around a write transaction (SQLite files only).

        SQLite's busy handler polls for its lock with sleeps that grow to 100 ms, so with two
        worker processes committing back to back one of them often slept 10-50 ms for a lock
        freed long before (p99 over 100 ms at 1,000 decisions/s). Queueing on a file lock first,
        looked at every 0.5 ms at most, hands it over sooner; ``BEGIN IMMEDIATE`` then finds
        SQLite's lock free. Waits at most ``lock_timeout``, then leaves it to SQLite's wait.
        (bench/peer_opa.py, 2 workers: 1,130-1,490 -> 1,330-1,940 decisions/s, p99 317-707 ->
        128-167 ms on a loaded machine.)"""
        if self.writer_lock is None:
            yield
            return
        fd = os.open(self.writer_lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + self.lock_timeout
            pause = 0.00005
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        break  # SQLite's busy timeout decides from here
                    time.sleep(pause)
                    pause = min(pause * 2, 0.0005)
            yield
        finally:
            os.close(fd)  # releases the lock

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(lock_timeout_ms: int, synchronous: str) -> Any:
    def connect(dbapi_conn: Any, _record: Any) -> None:
        # autocommit mode in the driver: SQLAlchemy's "begin" hook below issues BEGIN itself
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(lock_timeout_ms)}")
        cur.close()

    return connect


def _sqlite_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def create_database(
    url: str, *, echo: bool = False, lock_timeout: float = 2.0, durable: bool = True
) -> Database:
    """Build the engines for ``url``; creates the directory of a SQLite file if needed.

    ``durable=False`` lets SQLite commit without waiting for the disk (WAL, ``synchronous=
    NORMAL``): a power cut may undo the last commits, never corrupt. Only for writes that are
    safe to redo, such as the outbox drain's leases and marks (a redone batch changes nothing).

    ``lock_timeout`` (seconds) bounds how long a statement waits for another process's lock.
    Statement parameters are never part of an error's text (``hide_parameters``): they hold
    subjects, contexts and events, which may be personal data, and error texts reach logs."""
    sa_url = make_url(url)
    engine: Engine
    write_engine: Engine
    timeout_ms = max(1, int(lock_timeout * 1000))
    if sa_url.get_backend_name() == "sqlite":
        if sa_url.database and sa_url.database != ":memory:":
            Path(sa_url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            hide_parameters=True,
            connect_args={"check_same_thread": False, "timeout": lock_timeout},
            pool_size=8,
            max_overflow=16,
        )
        synchronous = "FULL" if durable else "NORMAL"
        event.listen(engine, "connect", _sqlite_pragmas(timeout_ms, synchronous))
        event.listen(engine, "begin", _sqlite_begin)
        write_engine = engine.execution_options(sqlite_begin="IMMEDIATE")
        if sa_url.database and sa_url.database != ":memory:":
            lock = Path(f"{sa_url.database}-writer.lock")
            return Database(engine, write_engine, writer_lock=lock, lock_timeout=lock_timeout)
    else:
        engine = create_engine(
            url,
            echo=echo,
            hide_parameters=True,
            pool_pre_ping=True,
            pool_size=10,
            max_overflow=20,
            connect_args={"options": f"-c lock_timeout={timeout_ms}"},
        )
        write_engine = engine
    return Database(engine=engine, write_engine=write_engine)


def database_from_settings(settings: Settings) -> Database:
    return create_database(
        settings.database_url, lock_timeout=settings.database_lock_timeout_seconds
    )
