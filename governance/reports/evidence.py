"""The evidence reports are built from, read in bulk.

Decisions are read grouped, in one query per report, from the decision facts
(``governance.reports.facts``: each audit record's payload extracted once, off the decision
path): by dataset, purpose, subject, effect, policy version and the obligations the decision
carried. A million decisions collapse into the groups a report shows, and the database does the
grouping over narrow rows (bench: ``bench/reports.py``, against a query per dataset).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from governance.db import Database
from governance.models import DecisionRecord
from governance.pdp.bundle import PolicyBundle
from governance.reports.facts import FACTS, FactIndexer

TABLE = DecisionRecord.__table__  # type: ignore[attr-defined]
MASKING_ACTIONS = frozenset({"pseudonymize", "hash", "encrypt", "mask", "redact"})
PSEUDONYMOUS = frozenset({"pseudonymize", "hash", "encrypt"})


def _aware(value: Any) -> datetime:
    moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class Usage:
    """Decisions of one (dataset, purpose, subject, effect, policy version, obligations)."""

    dataset: str
    purpose: str
    subject: str
    decision: str
    policy_version: str
    count: int
    first: datetime
    last: datetime
    obligations: list[dict[str, str]] = field(default_factory=list)
    with_consent: int = 0
    """How many of them carried consent evidence (a cited record or a consent row filter)."""

    def columns_used(self) -> dict[str, tuple[str, str]]:
        """Column → (PII type, action) for columns the subject saw in any form."""
        return {
            o["column"]: (o.get("pii_type", "UNKNOWN"), o.get("action", "keep"))
            for o in self.obligations
            if o.get("action") != "drop"
        }


GROUPS = ("dataset", "purpose", "subject", "decision", "policy_version", "obligations")


def decision_usage(
    db: Database,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    datasets: Sequence[str] | None = None,
    purposes: Sequence[str] | None = None,
    by: Sequence[str] = GROUPS,
) -> list[Usage]:
    """The decisions of a period, grouped by ``by`` (one query). A report asks only for the
    groups it shows: by subject *and* dataset, a million decisions hardly collapse at all; by
    (dataset, purpose, effect, obligations) they become a few tens of thousands of groups. The
    fields left out of ``by`` are empty in the answer."""
    unknown = set(by) - set(GROUPS)
    if unknown:
        raise ValueError(f"cannot group decisions by {sorted(unknown)}")
    indexer = FactIndexer(db)
    indexer.catch_up()  # every record committed so far is counted
    names = {"obligations": "shape"}
    empty = sa.literal("", sa.Text)
    columns = [
        (FACTS.c[names.get(name, name)] if name in by else empty).label(name) for name in GROUPS
    ]
    grouped = [FACTS.c[names.get(name, name)] for name in GROUPS if name in by]
    stmt = (
        sa.select(
            *columns,
            sa.func.count().label("n"),
            sa.func.min(FACTS.c.recorded_at),
            sa.func.max(FACTS.c.recorded_at),
            sa.func.sum(FACTS.c.consented),
        )
        .where(FACTS.c.kind == "decision")
        .group_by(*grouped)
    )
    if since is not None:
        stmt = stmt.where(FACTS.c.recorded_at >= since)
    if until is not None:
        stmt = stmt.where(FACTS.c.recorded_at < until)
    if datasets:
        stmt = stmt.where(FACTS.c.dataset.in_(list(datasets)))
    if purposes:
        stmt = stmt.where(FACTS.c.purpose.in_(list(purposes)))
    with db.engine.connect() as conn:
        rows = conn.execute(stmt).all()
    shapes = indexer.shapes(r[5] for r in rows) if "obligations" in by else {"": []}
    return [
        Usage(
            d,
            p,
            s,
            e,
            v,
            int(n),
            _aware(first),
            _aware(last),
            list(shapes.get(o, [])),
            int(consented_n or 0),
        )
        for d, p, s, e, v, o, n, first, last, consented_n in rows
    ]


def usage_naive(
    db: Database,
    datasets: Iterable[str],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Usage]:
    """The baseline ``bench/reports.py`` measures: a query per dataset, every payload parsed
    in Python (what a report would do without the grouped query)."""
    out: dict[tuple[str, ...], Usage] = {}
    for dataset in datasets:
        # kind is checked below, in Python: with it in the WHERE clause SQLite picks the index
        # on kind (every row) over the one on (dataset, recorded_at), a baseline of full scans
        stmt = sa.select(TABLE).where(TABLE.c.dataset == dataset)
        if since is not None:
            stmt = stmt.where(TABLE.c.recorded_at >= since)
        if until is not None:
            stmt = stmt.where(TABLE.c.recorded_at < until)
        with db.engine.connect() as conn:
            for row in conn.execute(stmt).mappings():
                if row["kind"] != "decision":
                    continue
                payload = json.loads(row["payload"])
                obligations = payload.get("obligations") or []
                key = (
                    row["dataset"],
                    row["purpose"],
                    row["subject"],
                    row["decision"],
                    row["policy_version"],
                    json.dumps(obligations, sort_keys=True),
                )
                at = _aware(row["recorded_at"])
                usage = out.get(key)
                if usage is None:
                    out[key] = Usage(*key[:5], 1, at, at, obligations)
                else:
                    usage.count += 1
                    usage.first, usage.last = min(usage.first, at), max(usage.last, at)
    return list(out.values())


def dataset_matches(bundle: PolicyBundle, dataset: str, declared: Iterable[str]) -> bool:
    """Is ``dataset`` among the declared entries (a dataset, a pattern like ``ns/*``, or a
    dataset group of the policy's g2 lines)?"""
    matcher = bundle.dataset_matcher(dataset)
    return any(entry == dataset or matcher(entry) for entry in declared)


def categories_of(bundle: PolicyBundle, pii_types: Iterable[str]) -> dict[str, set[str]]:
    """GDPR category → the PII types that evidence it."""
    out: dict[str, set[str]] = {}
    for pii_type in pii_types:
        mapping = bundle.declarations.category(pii_type)
        if mapping is not None:
            out.setdefault(mapping.gdpr, set()).add(pii_type)
    return out


def is_personal(pii_type: str) -> bool:
    return pii_type not in ("NONE", "UNKNOWN", "")


def treatment(action: str) -> str:
    """How a column was handed over, in a report's words."""
    if action == "keep":
        return "raw"
    if action in PSEUDONYMOUS:
        return "pseudonymized"
    if action in ("mask", "redact"):
        return "masked"
    return "not used"


def transfer_needed(bundle: PolicyBundle, dataset: str) -> str | None:
    """The third country ``dataset`` is stored in, if reading it is a transfer."""
    from governance.pdp.declarations import EEA

    controller = bundle.declarations.controller
    country = bundle.catalog.country_of(dataset)
    if not country or not controller.country or country == controller.country:
        return None
    home_eea = controller.country in EEA
    if (home_eea and country in EEA) or country in controller.adequate:
        return None
    return country


def by_key(items: Iterable[Usage]) -> Mapping[str, list[Usage]]:
    out: dict[str, list[Usage]] = {}
    for u in items:
        out.setdefault(u.purpose, []).append(u)
    return out
