"""Engines and sessions for the SQL store (SQLite by default, PostgreSQL by URL).

SQLite runs in WAL mode with a busy timeout. Writers that must serialize (the audit chain,
the outbox) use ``write_engine``, whose transactions start with ``BEGIN IMMEDIATE`` so that
two processes never both read the chain head and then race to extend it. On PostgreSQL the
same code takes a row lock (``SELECT … FOR UPDATE``) instead.
"""

from __future__ import annotations

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
