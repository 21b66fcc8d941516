"""Group commit of decision records and their lineage events.

Every caller waits until its audit record (and the OpenLineage event of the access, written to
the outbox) is committed before it is answered. Records that arrive while a commit is running
share the next transaction, so the chain lock and the fsync are paid once per group instead of
once per decision. A failed commit fails every waiter of that group; nothing is half-written.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.exc import InterfaceError, OperationalError

from governance.audit import AuditEntry, AuditLog, canonical_json
from governance.db import Database
from governance.models import OutboxEvent

log = logging.getLogger(__name__)


class RecordingFailed(Exception):
    """Records that could not be committed; ``incident`` names the log line with the cause."""

    def __init__(self, incident: str, cause: BaseException) -> None:
        super().__init__(f"incident {incident}: {type(cause).__name__}")
        self.incident = incident
        self.cause = cause


def _is_outage(exc: BaseException) -> bool:
    """The database, not the data: no point retrying the group in parts."""
    return isinstance(exc, (OperationalError, InterfaceError, TimeoutError, ConnectionError))


@dataclass
class _Work:
    entries: Sequence[AuditEntry]
    events: Sequence[dict[str, Any] | str]
    source: str = "decision"
    future: Future[list[int]] = field(default_factory=Future)
    window: float | None = None  # seconds this work may wait for company; None: the recorder's


class DecisionRecorder:
    """Writes audit entries and outbox events, batching concurrent callers."""

    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        *,
        window_ms: float = 1.0,
        max_batch: int = 2000,
        on_commit: Callable[[int], None] | None = None,
    ) -> None:
        self._db = db
        self._on_commit = on_commit
        self._audit = audit
        self._window = window_ms / 1000.0
        self._max_batch = max_batch
        self._queue: queue.Queue[_Work | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _ensure_thread(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="decision-recorder", daemon=True
                    )
                    self._thread.start()

    def submit(
        self,
        entries: Sequence[AuditEntry],
        events: Sequence[dict[str, Any] | str] = (),
        source: str = "decision",
        *,
        window_ms: float | None = None,
    ) -> Future[list[int]]:
        """Queue records for the next group commit; the future gives their sequence numbers.

        ``events`` go to the lineage outbox with ``source`` (decision, api, batch): a dict is
        written as canonical JSON, a str as it is (ingest's events, serialized by orjson).
        ``window_ms`` overrides the group-commit window when this work opens a group (0: commit
        with whatever is queued now; work arriving meanwhile still shares the next commit)."""
        if self._closed:
            raise RuntimeError("recorder is closed")
        self._ensure_thread()
        window = None if window_ms is None else window_ms / 1000.0
        work = _Work(entries, events, source, window=window)
        self._queue.put(work)
        return work.future

    def record(
        self,
        entries: Sequence[AuditEntry],
        events: Sequence[dict[str, Any]] = (),
        timeout: float = 60.0,
    ) -> list[int]:
        return self.submit(entries, events).result(timeout)

    def write(self, batch: Sequence[_Work]) -> None:
        now = datetime.now(UTC)
        with self._db.serialized(), self._db.write_session() as session:
            seqs = self._audit.append_in(session, [e for w in batch for e in w.entries])
            events = [
                {
                    "received_at": now,
                    "source": work.source,
                    "payload": event if isinstance(event, str) else canonical_json(event),
                    "attempts": 0,
                    "dead": False,
                }
                for work in batch
                for event in work.events
            ]
            if events:
                session.execute(insert(OutboxEvent.__table__), events)  # type: ignore[attr-defined]
            session.commit()
        if self._on_commit is not None:
            self._on_commit(len(seqs))
        position = 0
        for work in batch:
            n = len(work.entries)
            work.future.set_result(seqs[position : position + n])
            position += n

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            size = len(first.entries)
            deadline = time.monotonic() + (self._window if first.window is None else first.window)
            stop = False
            while size < self._max_batch:
                timeout = deadline - time.monotonic()
                try:
                    item = (
                        self._queue.get_nowait()
                        if timeout <= 0
                        else self._queue.get(timeout=timeout)
                    )
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
                size += len(item.entries)
            self._write_isolated(batch)
            if stop:
                return

    def _write_isolated(self, batch: list[_Work]) -> None:
        """Commit a group; if it fails for its content, split it until the work that cannot be
        written is alone, so it fails alone and every other caller's records are committed.

        An outage (the database is down, locked or gone) fails the whole group at once:
        retrying piece by piece would only make every caller wait longer for the same 503."""
        try:
            self.write(batch)
            return
        except Exception as exc:
            if len(batch) > 1 and not _is_outage(exc):
                middle = len(batch) // 2
                self._write_isolated(batch[:middle])
                self._write_isolated(batch[middle:])
                return
            incident = uuid.uuid4().hex[:12]
            # the message only: statement parameters are hidden by the engine (they hold
            # subjects, contexts and events, which may be personal data)
            log.error(
                "incident %s: committing %d audit record(s) and %d outbox event(s) failed: %s: %s",
                incident,
                sum(len(w.entries) for w in batch),
                sum(len(w.events) for w in batch),
                type(exc).__name__,
                str(exc)[:500],
            )
            failure = RecordingFailed(incident, exc)
            for work in batch:
                if not work.future.done():
                    work.future.set_exception(failure)

    def close(self) -> None:
        self._closed = True
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
