"""Consent and opt-out records, and what they change in a decision.

Records are append-only (``consent_event``): a subject's state for a purpose is their latest
record for it. ``purpose`` is a purpose of ``purposes.yaml`` or a CCPA right (``sale``,
``share``, ``sensitive_limit``). The Global Privacy Control signal (``Sec-GPC: 1`` or
``context.gpc: true``) is an opt-out of sale and sharing for the subject it is sent for (CCPA
regulations §7025); it is recorded like any opt-out, with source ``gpc``.

``ConsentGate`` is the one question the decision path asks: for an allowed decision whose
purpose needs consent (lawful basis ``consent``) or can be a sale or a share (``ccpa_sale``,
``ccpa_share``), does the data subject's state change the answer? For a single subject
(``subject_ref``) it is one indexed query; for a whole table it is a row filter naming the
subjects (by keyed reference) whose rows may be used, built from a cache that is rebuilt only
when a consent record was added.
"""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import func, insert, select

from governance.db import Database
from governance.errors import FieldProblem, InvalidInput
from governance.models import ConsentEvent
from governance.pdp.catalog import Catalog, Purpose
from governance.pdp.decision import (
    AccessRequest,
    Decision,
    Effect,
    RowCondition,
    RowFilterOp,
)
from governance.subjects.identifiers import Identifier, SubjectIdentifiers, SubjectKeys
from governance.timestamps import iso

TABLE = ConsentEvent.__table__  # type: ignore[attr-defined]
_COLUMNS = (
    "id, record_group, subject_ref, identifier_kind, purpose, status, source, recorded_at, "
    "recorded_by, evidence"
)


class _Row(NamedTuple):
    id: int
    record_group: str
    subject_ref: str
    identifier_kind: str
    purpose: str
    status: str
    source: str
    recorded_at: Any
    recorded_by: str
    evidence: str


CCPA_RIGHTS = ("sale", "share", "sensitive_limit")
GRANTED, WITHDRAWN = "granted", "withdrawn"
STATUSES = frozenset({GRANTED, WITHDRAWN})
SOURCES = frozenset({"api", "import", "gpc", "dsr"})


@dataclass(frozen=True)
class ConsentRecord:
    id: int
    record_group: str
    subject_ref: str
    identifier_kind: str
    purpose: str
    status: str
    source: str
    recorded_at: datetime
    recorded_by: str
    evidence: dict[str, Any]

    def cite(self) -> str:
        """How a decision's reason names the record."""
        return (
            f"consent record {self.id} ({self.status} {iso(self.recorded_at)[:10]}, "
            f"source {self.source})"
        )

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "record_group": self.record_group,
            "subject_ref": self.subject_ref,
            "identifier_kind": self.identifier_kind,
            "purpose": self.purpose,
            "status": self.status,
            "source": self.source,
            "recorded_at": iso(self.recorded_at),
            "recorded_by": self.recorded_by,
            "evidence": self.evidence,
        }


def _record(row: Any) -> ConsentRecord:
    at = row.recorded_at
    if isinstance(at, str):  # SQLite through the driver: the text SQLAlchemy stored
        at = datetime.fromisoformat(at)
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    try:
        evidence = json.loads(row.evidence or "{}")
    except ValueError:
        evidence = {}
    return ConsentRecord(
        int(row.id),
        row.record_group,
        row.subject_ref,
        row.identifier_kind,
        row.purpose,
        row.status,
        row.source,
        at,
        row.recorded_by,
        evidence,
    )


@dataclass(frozen=True)
class NewConsent:
    """One record to store (as the API or an import gives it)."""

    subject: SubjectIdentifiers
    purpose: str
    status: str
    source: str = "api"
    recorded_at: datetime | None = None
    evidence: Mapping[str, Any] | None = None


class ConsentStore:
    """Append-only consent records in SQL, keyed by subject reference."""

    def __init__(
        self,
        db: Database,
        keys: SubjectKeys,
        purposes: Callable[[], Mapping[str, Purpose]],
    ) -> None:
        self._db = db
        self._keys = keys
        self._purposes = purposes
        self._listeners: list[Callable[[], None]] = []
        self._local = threading.local()
        self._open: list[Any] = []  # every thread's connection, so close() can return them
        self._open_lock = threading.Lock()

    def close(self) -> None:
        """Give back the per-thread lookup connections (the service is stopping)."""
        with self._open_lock:
            open_, self._open = self._open, []
        for connection in open_:
            with contextlib.suppress(Exception):
                connection.close()
        self._local = threading.local()

    @property
    def keys(self) -> SubjectKeys:
        return self._keys

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def purposes(self) -> list[str]:
        return [*sorted(self._purposes()), *CCPA_RIGHTS]

    def check(self, item: NewConsent, loc: tuple[str | int, ...]) -> list[Identifier]:
        if item.purpose not in self._purposes() and item.purpose not in CCPA_RIGHTS:
            raise InvalidInput(
                f"unknown purpose {item.purpose!r}: a purpose of purposes.yaml or one of "
                f"{', '.join(CCPA_RIGHTS)}",
                [FieldProblem((*loc, "purpose"), "unknown purpose")],
            )
        if item.status not in STATUSES:
            raise InvalidInput(
                "status is granted or withdrawn", [FieldProblem((*loc, "status"), "bad status")]
            )
        if item.source not in SOURCES:
            raise InvalidInput(
                f"source is one of {', '.join(sorted(SOURCES))}",
                [FieldProblem((*loc, "source"), "bad source")],
            )
        return [
            self._keys.identifier(kind, value, (*loc, "subject", kind))
            for kind, value in item.subject.items().items()
        ]

    def _rows(
        self, items: Iterable[NewConsent], by: str, loc: tuple[str | int, ...]
    ) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        rows: list[dict[str, Any]] = []
        for i, item in enumerate(items):
            identifiers = self.check(item, (*loc, i) if loc else ("body",))
            group = str(uuid.uuid4())
            for identifier in identifiers:
                rows.append(
                    {
                        "record_group": group,
                        "subject_ref": self._keys.ref(identifier),
                        "identifier_kind": identifier.kind,
                        "purpose": item.purpose,
                        "status": item.status,
                        "source": item.source,
                        "recorded_at": item.recorded_at or now,
                        "recorded_by": by,
                        "evidence": json.dumps(dict(item.evidence or {}), sort_keys=True),
                    }
                )
        return rows

    def record(self, item: NewConsent, *, by: str) -> list[ConsentRecord]:
        """Store one record (one row per identifier given); returns them with their ids."""
        rows = self._rows([item], by, ())
        with self._db.write_session() as session:
            session.execute(insert(TABLE), rows)
            session.commit()
            stored = session.execute(
                select(TABLE).where(TABLE.c.record_group == rows[0]["record_group"])
            ).all()
        self._changed()
        return sorted((_record(r) for r in stored), key=lambda r: r.id)

    def record_many(self, items: Sequence[NewConsent], *, by: str) -> int:
        """Store many records in one transaction (imports); every item is checked first."""
        rows = self._rows(items, by, ("rows",))
        if rows:
            with self._db.write_session() as session:
                session.execute(insert(TABLE), rows)
                session.commit()
            self._changed()
        return len(items)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    def history(self, identifier: Identifier) -> list[ConsentRecord]:
        ref = self._keys.ref(identifier)
        with self._db.session() as session:
            rows = session.execute(
                select(TABLE).where(TABLE.c.subject_ref == ref).order_by(TABLE.c.id)
            ).all()
        return [_record(r) for r in rows]

    def latest(self, refs: Sequence[str], purposes: Sequence[str]) -> dict[str, ConsentRecord]:
        """Per purpose, the newest record of any of ``refs``.

        One query on the (subject_ref, purpose, id) index: a subject has a handful of records
        whatever the table's size (bench/consent.py: 1M records). It runs on the decision path,
        so it goes to the driver directly: SQLAlchemy's statement machinery cost ten times the
        query itself here (0.4 ms against 30 µs, profiled)."""
        out: dict[str, ConsentRecord] = {}
        if not refs or not purposes:
            return out
        mark = "?" if self._db.dialect == "sqlite" else "%s"
        sql = (
            f"SELECT {_COLUMNS} FROM consent_event WHERE subject_ref IN "
            f"({', '.join([mark] * len(refs))}) AND purpose IN "
            f"({', '.join([mark] * len(purposes))}) ORDER BY id"
        )
        rows = self._query(sql, [*refs, *purposes])
        newest: dict[str, tuple[Any, ...]] = {}
        for row in rows:  # ordered by id: the last one wins
            newest[row[4]] = row
        for purpose, row in newest.items():
            out[purpose] = _record(_Row(*row))
        return out

    def _query(self, sql: str, params: list[str]) -> list[tuple[Any, ...]]:
        """Run a read on this thread's own driver connection (autocommit: it never holds a
        transaction open), made on first use; a connection that failed is replaced once."""
        for attempt in (0, 1):
            connection = getattr(self._local, "connection", None)
            if connection is None:
                connection = self._db.engine.raw_connection()
                if self._db.dialect == "postgresql":
                    connection.driver_connection.autocommit = True  # type: ignore[union-attr]
                self._local.connection = connection
                with self._open_lock:
                    self._open.append(connection)
            try:
                cursor = connection.cursor()
                cursor.execute(sql, params)
                rows = list(cursor.fetchall())
                cursor.close()
                return rows
            except Exception:
                self._local.connection = None
                with contextlib.suppress(Exception):  # it is being thrown away
                    connection.invalidate()
                if attempt:
                    raise
        return []

    def version(self) -> int:
        """The newest record's id: the consent lists change exactly when it does."""
        with self._db.session() as session:
            return int(session.execute(select(func.coalesce(func.max(TABLE.c.id), 0))).scalar_one())

    def subjects_whose_latest_is(self, purpose: str, status: str) -> set[str]:
        """Short references (16 hex) of subjects whose latest record for ``purpose`` is
        ``status``: one pass over that purpose's records, newest last."""
        latest: dict[str, str] = {}
        with self._db.session() as session:
            result = session.execute(
                select(TABLE.c.subject_ref, TABLE.c.status)
                .where(TABLE.c.purpose == purpose)
                .order_by(TABLE.c.id)
                .execution_options(yield_per=20_000)
            )
            for ref, state in result:
                latest[ref] = state
        return {ref[:16] for ref, state in latest.items() if state == status}


# ---- the decision path -----------------------------------------------------------------------


@dataclass(frozen=True)
class ConsentOutcome:
    """What consent did to a decision: nothing, a deny, or an extra row filter."""

    decision: Decision
    records: tuple[int, ...] = ()


def gpc_signal(request: AccessRequest) -> bool:
    return request.context.get("gpc") is True


class ConsentGate:
    """Consent and opt-outs, applied to an allowed decision (denials are left as they are)."""

    def __init__(
        self,
        store: ConsentStore,
        purposes: Callable[[], Mapping[str, Purpose]],
        catalog: Callable[[], Catalog],
        *,
        record_gpc: bool = True,
    ) -> None:
        self._store = store
        self._purposes = purposes
        self._catalog = catalog
        self._record_gpc = record_gpc
        self._lists: dict[tuple[str, str], tuple[int, frozenset[str]]] = {}
        self._conditions: dict[tuple[Any, ...], RowCondition] = {}
        self._lock = threading.Lock()

    def rights_of(self, purpose: Purpose) -> list[str]:
        return [r for r, on in (("sale", purpose.ccpa_sale), ("share", purpose.ccpa_share)) if on]

    def check(self, request: AccessRequest, loc: tuple[str | int, ...]) -> None:
        """A ``subject_ref`` that names nobody well-formed is a 422 before anything is decided
        (whatever the policy says), never a silently ignored identifier."""
        if request.subject_ref is not None:
            keys = self._store.keys
            for kind, value in request.subject_ref.items().items():
                keys.identifier(kind, value, (*loc, "subject_ref", kind))

    def applies(self, request: AccessRequest) -> bool:
        """Cheap: does consent matter for this request's purpose at all?"""
        purpose = self._purposes().get(request.purpose)
        if purpose is None:
            return False
        return purpose.lawful_basis == "consent" or bool(self.rights_of(purpose))

    def apply(self, request: AccessRequest, decision: Decision, *, by: str = "") -> ConsentOutcome:
        if not decision.allowed or not self.applies(request):
            return ConsentOutcome(decision)
        purpose = self._purposes()[request.purpose]
        rights = self.rights_of(purpose)
        gpc = gpc_signal(request)
        if request.subject_ref is not None:
            return self._one_subject(request, decision, purpose, rights, gpc, by)
        if gpc and rights:
            return ConsentOutcome(
                _deny(
                    decision,
                    f"denied: the request carries the Global Privacy Control signal, an opt-out "
                    f"of {' and '.join(rights)} (CCPA regulations §7025)",
                )
            )
        return self._many_subjects(request, decision, purpose, rights)

    def _one_subject(
        self,
        request: AccessRequest,
        decision: Decision,
        purpose: Purpose,
        rights: list[str],
        gpc: bool,
        by: str,
    ) -> ConsentOutcome:
        assert request.subject_ref is not None
        keys = self._store.keys
        identifiers = [
            keys.identifier(kind, value, ("body", "subject_ref", kind))
            for kind, value in request.subject_ref.items().items()
        ]
        refs = [keys.ref(i) for i in identifiers]
        wanted = [request.purpose, *rights] if purpose.lawful_basis == "consent" else rights
        latest = self._store.latest(refs, wanted)
        if gpc and rights:
            if self._record_gpc and any(
                latest.get(r) is None or latest[r].status != WITHDRAWN for r in rights
            ):
                for right in rights:
                    self._store.record(
                        NewConsent(
                            request.subject_ref,
                            right,
                            WITHDRAWN,
                            source="gpc",
                            evidence={"signal": "Sec-GPC: 1", "purpose": request.purpose},
                        ),
                        by=by,
                    )
            return ConsentOutcome(
                _deny(
                    decision,
                    f"denied: Global Privacy Control signal for this subject, an opt-out of "
                    f"{' and '.join(rights)} (CCPA regulations §7025; recorded with source gpc)",
                )
            )
        for right in rights:
            record = latest.get(right)
            if record is not None and record.status == WITHDRAWN:
                return ConsentOutcome(
                    _deny(
                        decision,
                        f"denied: the subject opted out of {right} ({record.cite()})",
                    ),
                    (record.id,),
                )
        cited: list[int] = []
        reason = decision.reason
        if purpose.lawful_basis == "consent":
            record = latest.get(request.purpose)
            if record is None:
                return ConsentOutcome(
                    _deny(
                        decision,
                        f"denied: {request.purpose} needs consent (lawful basis consent) and "
                        "none is on record for this subject",
                    )
                )
            if record.status != GRANTED:
                return ConsentOutcome(
                    _deny(
                        decision,
                        f"denied: consent for {request.purpose} withdrawn ({record.cite()})",
                    ),
                    (record.id,),
                )
            cited.append(record.id)
            reason = f"{reason}; {record.cite()}"
        updated = decision.model_copy(update={"reason": reason})
        return ConsentOutcome(updated, tuple(cited))

    def _many_subjects(
        self,
        request: AccessRequest,
        decision: Decision,
        purpose: Purpose,
        rights: list[str],
    ) -> ConsentOutcome:
        info = self._catalog().get(request.resource.dataset)
        located = _subject_column(info, self._store.keys)
        if located is None:
            return ConsentOutcome(
                _deny(
                    decision,
                    f"denied (fail closed): {request.purpose} depends on each subject's consent, "
                    f"and {request.resource.dataset} declares no column that identifies them "
                    "(catalog.yaml source.identifiers); name the subject with subject_ref",
                )
            )
        column, kind, pii_type = located
        conditions: list[RowCondition] = []
        notes: list[str] = []
        if purpose.lawful_basis == "consent":
            condition, count, version = self._condition(
                RowFilterOp.subject_in, column, kind, pii_type, request.purpose, GRANTED
            )
            conditions.append(condition)
            notes.append(
                f"rows limited to the {count} subject(s) whose consent for "
                f"{request.purpose} is granted (consent list version {version})"
            )
        for right in rights:
            condition, count, version = self._condition(
                RowFilterOp.subject_not_in, column, kind, pii_type, right, WITHDRAWN
            )
            conditions.append(condition)
            notes.append(
                f"rows of the {count} subject(s) who opted out of {right} excluded "
                f"(consent list version {version})"
            )
        row_filter = [*(decision.row_filter or []), *conditions]
        reason = f"{decision.reason}; " + "; ".join(notes)
        return ConsentOutcome(
            decision.model_copy(update={"row_filter": row_filter, "reason": reason})
        )

    def _list(self, purpose: str, status: str) -> tuple[frozenset[str], int]:
        version = self._store.version()
        with self._lock:
            cached = self._lists.get((purpose, status))
            if cached is not None and cached[0] == version:
                return cached[1], version
        refs = frozenset(self._store.subjects_whose_latest_is(purpose, status))
        with self._lock:
            self._lists[(purpose, status)] = (version, refs)
            self._conditions.clear()
        return refs, version

    def _condition(
        self, op: RowFilterOp, column: str, kind: str, pii_type: str, purpose: str, status: str
    ) -> tuple[RowCondition, int, int]:
        """The row filter condition for a consent list, built once per list version (a list of
        a million references takes a while to sort and validate)."""
        refs, version = self._list(purpose, status)
        key = (op, column, kind, pii_type, purpose, status, version)
        with self._lock:
            cached = self._conditions.get(key)
        if cached is None:
            cached = _membership(op, column, kind, pii_type, refs)
            with self._lock:
                self._conditions[key] = cached
        return cached, len(refs), version


def _membership(
    op: RowFilterOp, column: str, kind: str, pii_type: str, refs: frozenset[str]
) -> RowCondition:
    return RowCondition(
        column=column,
        op=op,
        value={"kind": kind, "pii_type": pii_type, "refs": sorted(refs)},
    )


def _subject_column(info: Any, keys: SubjectKeys) -> tuple[str, str, str] | None:
    """The column of a dataset that holds a subject identifier as is (a pseudonymized one
    cannot be matched against keyed references)."""
    if info is None:
        return None
    if info.source is not None:
        for kind, column in info.source.identifiers.items():
            if column.transform is None and kind in keys.kinds:
                return column.column, kind, keys.kinds[kind].pii_type
    for kind, spec in keys.kinds.items():
        for column, pii_type in info.columns.items():
            if pii_type == spec.pii_type:
                return column, kind, pii_type
    return None


def _deny(decision: Decision, reason: str) -> Decision:
    return Decision.model_construct(
        decision=Effect.deny,
        reason=reason,
        matched_rule=decision.matched_rule,
        obligations=[],
        row_filter=None,
        policy_version=decision.policy_version,
        decision_id=decision.decision_id,
    )
