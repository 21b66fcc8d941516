"""Decision facts: the audit trail's payloads, extracted once, for reports.

A report groups up to millions of decisions by dataset, purpose, effect and the obligations they
carried. Read from the audit trail itself, that is a JSON parse of every payload per report (a
million payloads took about a minute on SQLite). The indexer here reads each record once, off the
decision path, and writes a narrow row: its columns, a digest of its obligations (the list kept
once in ``decision_shape``) and whether it cited consent evidence. Reports then group the narrow
rows in SQL.

* **Incremental.** Each chain's records are read after the highest ``chain_seq`` already
  indexed for it. ``chain_seq`` is dense and committed in order within a chain (the chain head
  is locked by its writer), so nothing is skipped.
* **Idempotent.** Rows are keyed by (chain, chain_seq) and inserted with "on conflict do
  nothing": two workers indexing at once cannot count a decision twice.
* **Exact when read.** A report catches up first (``catch_up``), so the facts hold every record
  committed before it started; the background thread only keeps that catch-up short.
* **Derived.** The facts can be dropped and rebuilt from the chain at any time (``rebuild``);
  the chain, which a report anchors to by its head, stays the evidence.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterable
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from governance.db import Database
from governance.models import AuditChain, DecisionFact, DecisionRecord, DecisionShape

log = logging.getLogger(__name__)

FACTS = DecisionFact.__table__  # type: ignore[attr-defined]
SHAPES = DecisionShape.__table__  # type: ignore[attr-defined]
LOG = DecisionRecord.__table__  # type: ignore[attr-defined]
CHAINS = AuditChain.__table__  # type: ignore[attr-defined]
EMPTY_SHAPE = ""  # a decision with no obligations (every deny, and allows without any)


def shape_of(obligations: Any) -> tuple[str, bytes]:
    """(digest, canonical JSON) of an obligations list; empty or malformed lists are ``""``."""
    if not isinstance(obligations, list) or not obligations:
        return EMPTY_SHAPE, b"[]"
    canonical = orjson.dumps(obligations, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(canonical, digest_size=16).hexdigest(), canonical


def cited_consent(payload: dict[str, Any], text: str) -> bool:
    """Consent evidence on a decision: a cited consent record, or a consent row filter."""
    return bool(payload.get("consent_records")) or '"op":"subject_in"' in text


def _insert(db: Database, table: sa.Table) -> Any:
    dialect = postgresql if db.dialect == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


class FactIndexer:
    """Keeps ``decision_fact`` up with the audit trail (see the module's docstring)."""

    def __init__(self, db: Database, *, batch: int = 20_000, interval: float = 2.0) -> None:
        self.db = db
        self.batch = batch
        self.interval = interval
        self._lock = threading.Lock()  # one catch-up at a time per indexer; several indexers
        # (a report's and the background thread's) are safe together: inserts are idempotent
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- indexing ---------------------------------------------------------------------------

    def catch_up(self) -> int:
        """Index every record committed so far; returns how many were new."""
        with self._lock:
            total = 0
            for chain, after in self._watermarks().items():
                while True:
                    added, after = self._index(chain, after)
                    total += added
                    if added < self.batch:
                        break
            return total

    def _watermarks(self) -> dict[str, int]:
        with self.db.engine.connect() as conn:
            chains = [r[0] for r in conn.execute(sa.select(CHAINS.c.chain))]
            done: dict[str, int | None] = dict(
                conn.execute(
                    sa.select(FACTS.c.chain, sa.func.max(FACTS.c.chain_seq)).group_by(FACTS.c.chain)
                ).all()
            )
        return {c: int(done.get(c) or 0) for c in chains}

    def _index(self, chain: str, after: int) -> tuple[int, int]:
        stmt = (
            sa.select(
                LOG.c.chain_seq,
                LOG.c.kind,
                LOG.c.recorded_at,
                LOG.c.subject,
                LOG.c.dataset,
                LOG.c.purpose,
                LOG.c.decision,
                LOG.c.policy_version,
                LOG.c.payload,
            )
            .where(LOG.c.chain == chain, LOG.c.chain_seq > after)
            .order_by(LOG.c.chain_seq)
            .limit(self.batch)
        )
        with self.db.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        if not rows:
            return 0, after
        facts, shapes = [], {}
        for seq, kind, at, subject, dataset, purpose, decision, version, text in rows:
            try:
                payload = orjson.loads(text)
            except orjson.JSONDecodeError:
                payload = {}
            if not isinstance(payload, dict):
                payload = {}
            digest, canonical = shape_of(payload.get("obligations"))
            if digest:
                shapes[digest] = canonical.decode()
            facts.append(
                {
                    "chain": chain,
                    "chain_seq": seq,
                    "kind": kind,
                    "recorded_at": at,
                    "subject": subject,
                    "dataset": dataset,
                    "purpose": purpose,
                    "decision": decision,
                    "policy_version": version,
                    "shape": digest,
                    "consented": int(cited_consent(payload, text)),
                }
            )
        with self.db.engine.begin() as conn:
            if shapes:
                conn.execute(
                    _insert(self.db, SHAPES),
                    [{"digest": d, "obligations": o} for d, o in shapes.items()],
                )
            conn.execute(_insert(self.db, FACTS), facts)
        return len(facts), int(rows[-1][0])

    def rebuild(self) -> int:
        """Drop every fact and index the whole trail again."""
        with self._lock, self.db.engine.begin() as conn:
            conn.execute(sa.delete(FACTS))
        return self.catch_up()

    def shapes(self, digests: Iterable[str]) -> dict[str, list[dict[str, str]]]:
        """The obligations behind each digest."""
        wanted = sorted({d for d in digests if d})
        out: dict[str, list[dict[str, str]]] = {EMPTY_SHAPE: []}
        with self.db.engine.connect() as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                for digest, text in conn.execute(
                    sa.select(SHAPES.c.digest, SHAPES.c.obligations).where(
                        SHAPES.c.digest.in_(chunk)
                    )
                ):
                    out[digest] = orjson.loads(text)
        return out

    # ---- in the background ------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="decision-facts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.catch_up()
            except Exception as exc:  # reports catch up themselves; this only keeps it short
                # only the class: a database error's text can quote a record's values
                log.warning("decision facts not indexed this round: %s", type(exc).__name__)
