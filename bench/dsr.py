"""The subject index at scale: an access search for one person over 1.2M rows in 5 tables.

The retail schema of the demo (customers, orders, app events, support tickets, and the churn
features keyed by pseudonym), filled with synthetic rows: 200,000 customers, 400,000 orders,
300,000 events, 100,000 tickets and 200,000 feature rows (1.2M rows). The search is the service's
own (``SubjectSearch.find``): every source by customer id and e-mail with bound parameters, the
feature table by the subject's pseudonym under every key of the ring, then lineage downstream.

Measured in one run on the same tables: with the identifier columns indexed (the goal: under
1 s), and the baseline, a full scan of each table (the same search after dropping the indexes).

    python bench/dsr.py [--customers 200000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from governance.demo import retail  # noqa: E402
from governance.pdp.engine import PolicyDecisionPoint  # noqa: E402
from governance.pii.keyring import KeyRing  # noqa: E402
from governance.pii.operators import Protector  # noqa: E402
from governance.subjects.identifiers import SubjectIdentifiers, SubjectKeys  # noqa: E402
from governance.subjects.search import SourceConnections, SubjectSearch  # noqa: E402

INDEXED = {
    "customers": ["email", "phone"],
    "orders": ["customer_id", "email"],
    "support_tickets": ["customer_id", "email"],
    "app_events": ["customer_id"],
}


def fill(url: str, customers: int, protector: Protector, rng: random.Random) -> int:
    engine = sa.create_engine(url)
    retail.metadata.drop_all(engine)
    retail.metadata.create_all(engine)
    rows = 0

    def person(i: int) -> tuple[str, str]:
        return retail.customer_id(i), f"customer{i}@example.com"

    with engine.begin() as conn:
        batch: list[dict[str, Any]] = []
        for i in range(customers):
            cid, email = person(i)
            batch.append(
                {
                    "customer_id": cid,
                    "full_name": f"Customer {i}",
                    "email": email,
                    "phone": f"+44 20 {i:08d}",
                    "region": "EU",
                    "segment": "gold",
                }
            )
        conn.execute(retail.customers.insert(), batch)
        rows += len(batch)
        batch = []
        for i in range(customers * 2):
            cid, email = person(rng.randrange(customers))
            batch.append(
                {
                    "order_id": f"O{i:09d}",
                    "customer_id": cid,
                    "email": email,
                    "total_amount": 10.0,
                    "currency": "GBP",
                    "ordered_at": "2026-11-01",
                }
            )
        conn.execute(retail.orders.insert(), batch)
        rows += len(batch)
        batch = [
            {
                "event_id": f"E{i:09d}",
                "customer_id": person(rng.randrange(customers))[0],
                "event_type": "app_open",
                "occurred_at": "2026-11-01",
            }
            for i in range(customers * 3 // 2)
        ]
        conn.execute(retail.app_events.insert(), batch)
        rows += len(batch)
        batch = []
        for i in range(customers // 2):
            cid, email = person(rng.randrange(customers))
            batch.append(
                {
                    "ticket_id": f"T{i:09d}",
                    "customer_id": cid,
                    "email": email,
                    "subject": "parcel",
                    "body": "where is it",
                    "opened_at": "2026-11-01",
                }
            )
        conn.execute(retail.support_tickets.insert(), batch)
        rows += len(batch)
        pseudonym = protector.pseudonymizer("CUSTOMER_ID", "model_training")
        batch = [
            {
                "customer_token": pseudonym(retail.customer_id(i)),
                "orders_90d": 1,
                "app_sessions_30d": 1,
                "support_calls_90d": 0,
                "pages_90d": 0,
                "segment": "gold",
            }
            for i in range(customers)
        ]
        conn.execute(retail.churn_features.insert(), batch)
        rows += len(batch)
    engine.dispose()
    return rows


def drop_indexes(url: str) -> None:
    """The baseline: no index on the identifier columns (primary keys stay: a table has one)."""
    engine = sa.create_engine(url)
    inspector = sa.inspect(engine)
    with engine.begin() as conn:
        for table in INDEXED:
            for index in inspector.get_indexes(table):
                conn.execute(sa.text(f'DROP INDEX "{index["name"]}"'))
    engine.dispose()


def measure(search: SubjectSearch, keys: SubjectKeys, subjects: list[int]) -> list[float]:
    out = []
    for i in subjects:
        subject = SubjectIdentifiers(
            customer_id=retail.customer_id(i), email=f"customer{i}@example.com"
        )
        identifiers = keys.identifiers(subject)
        started = time.perf_counter()
        found = search.find(identifiers, subject.items())
        out.append(time.perf_counter() - started)
        assert "crm/customers" in found.datasets, found.errors
        assert "ml/churn_features" in found.datasets, found.errors
    return out


def run(url: str, label: str, customers: int, samples: int) -> None:
    rng = random.Random(20261201)
    ring = KeyRing.generate()
    pdp = PolicyDecisionPoint.from_directory(ROOT / "policies", run_tests=False)
    protector = Protector(ring, domains=pdp.bundle.pseudonym_domains())
    started = time.perf_counter()
    rows = fill(url, customers, protector, rng)
    print(
        f"\n### {label}: {rows:,} rows in 5 tables (filled in {time.perf_counter() - started:.0f} s)\n"
    )
    os.environ[retail.CONNECTION] = url
    keys = SubjectKeys(ring, pdp.bundle.catalog.identifiers)
    connections = SourceConnections()
    search = SubjectSearch(lambda: pdp.bundle.catalog, lambda: protector, connections)
    picks = [rng.randrange(customers) for _ in range(samples)]
    measure(search, keys, picks[:3])  # warm: reflection, statement caches
    indexed = measure(search, keys, picks)
    connections.close()
    drop_indexes(url)
    connections = SourceConnections()
    search = SubjectSearch(lambda: pdp.bundle.catalog, lambda: protector, connections)
    scanned = measure(search, keys, picks[:3])
    connections.close()
    print("| access search for one subject | mean s | p50 s | max s |")
    print("|---|---|---|---|")
    for name, values in (("identifier columns indexed", indexed), ("baseline: full scan", scanned)):
        print(
            f"| {name} ({len(values)} subjects) | {statistics.mean(values):.3f} | "
            f"{statistics.median(values):.3f} | {max(values):.3f} |"
        )
    speedup = statistics.median(scanned) / statistics.median(indexed)
    verdict = "met" if max(indexed) < 1 else "NOT met"
    print(f"\nindexed is {speedup:,.0f}x the full scan; goal (< 1 s): {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--postgres", help="a PostgreSQL URL (a fresh database is made in it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run(f"sqlite:///{tmp}/retail.db", "SQLite", args.customers, args.samples)
    if args.postgres:
        admin = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
        name = f"bench_dsr_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = sa.engine.make_url(args.postgres).set(database=name).render_as_string(False)
        try:
            run(url, "PostgreSQL", args.customers, args.samples)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()


if __name__ == "__main__":
    main()
