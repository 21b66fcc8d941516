"""Consent at decision time: what 1,000,000 consent records cost a decision, in one run.

The shipped policy, a SQLite (and, with --postgres URL, a PostgreSQL) database holding N
consent records (default 1,000,000: 500,000 subjects, marketing grants and withdrawals, sale and
share opt-outs, histories of one to three records). Measured per decision, in process (the
PDP's decision plus the consent gate, as DecisionService runs them; no HTTP, no audit write):

* baseline: the same request with the consent gate off;
* one subject, a marketing decision (lawful basis consent): the subject's latest record decides;
* one subject without any record (the index lookup finds nothing);
* a whole table (no subject_ref): the row filter of consented subjects, first build and cached.

The goal: p99 under 1 ms for a single-subject decision with 1M records.

    python bench/consent.py [--records 1000000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from governance.db import create_database  # noqa: E402
from governance.models import ConsentEvent  # noqa: E402
from governance.pdp.decision import AccessRequest  # noqa: E402
from governance.pdp.engine import PolicyDecisionPoint  # noqa: E402
from governance.pii.keyring import KeyRing, subject_index_key  # noqa: E402
from governance.schema import upgrade  # noqa: E402
from governance.subjects.consent import ConsentGate, ConsentStore  # noqa: E402
from governance.subjects.identifiers import SubjectKeys  # noqa: E402


def customer(i: int) -> str:
    return f"CU{10_000_000 + i}"


def fill(url: str, ring: KeyRing, records: int, rng: random.Random) -> int:
    """Insert ``records`` consent rows (executemany in batches); returns the subjects used."""
    key = subject_index_key(ring)
    subjects = max(1, records // 2)
    table = ConsentEvent.__table__  # type: ignore[attr-defined]
    engine = sa.create_engine(url)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    batch: list[dict[str, Any]] = []
    written = 0
    i = 0
    with engine.begin() as conn:
        while written < records:
            ref = hmac.new(key, f"customer_id:{customer(i % subjects)}".encode(), hashlib.sha256)
            digest = ref.hexdigest()
            kind = rng.random()
            history = ["granted", "withdrawn", "granted"][: rng.randint(1, 3)]
            purpose = "marketing" if kind < 0.7 else ("share" if kind < 0.85 else "sale")
            if purpose != "marketing":
                history = ["withdrawn"]
            for n, status in enumerate(history):
                batch.append(
                    {
                        "record_group": str(uuid.UUID(int=rng.getrandbits(128))),
                        "subject_ref": digest,
                        "identifier_kind": "customer_id",
                        "purpose": purpose,
                        "status": status,
                        "source": "import",
                        "recorded_at": start + timedelta(minutes=i + n),
                        "recorded_by": "bench",
                        "evidence": "{}",
                    }
                )
                written += 1
            i += 1
            if len(batch) >= 20_000:
                conn.execute(table.insert(), batch)
                batch.clear()
        if batch:
            conn.execute(table.insert(), batch)
    engine.dispose()
    return subjects


def request(purpose: str, subject: str | None) -> AccessRequest:
    body: dict[str, Any] = {
        "subject": {"id": "user:alice"},
        "action": "read",
        "resource": {"dataset": "crm/customers", "columns": ["customer_id", "email"]},
        "purpose": purpose,
        "context": {"region": "EU", "channel": "crm"},
    }
    if subject:
        body["subject_ref"] = {"customer_id": subject}
    return AccessRequest.model_validate(body)


def timed(fn: Any, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1e6)
    return out


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def row(label: str, values: list[float]) -> str:
    return (
        f"| {label} | {statistics.mean(values):,.0f} | {pct(values, 0.5):,.0f} | "
        f"{pct(values, 0.99):,.0f} |"
    )


def run(url: str, label: str, records: int, samples: int) -> None:
    rng = random.Random(20261201)
    upgrade(url)
    ring = KeyRing.generate()
    started = time.perf_counter()
    subjects = fill(url, ring, records, rng)
    filled = time.perf_counter() - started
    db = create_database(url)
    pdp = PolicyDecisionPoint.from_directory(ROOT / "policies", run_tests=False, cache_size=0)
    keys = SubjectKeys(ring, pdp.bundle.catalog.identifiers)
    store = ConsentStore(db, keys, lambda: pdp.bundle.purposes)
    gate = ConsentGate(store, lambda: pdp.bundle.purposes, lambda: pdp.bundle.catalog)

    def decide(req: AccessRequest, with_gate: bool) -> Any:
        decision = pdp.decide(req)
        if with_gate and gate.applies(req):
            decision = gate.apply(req, decision).decision
        return decision

    print(
        f"\n### {label}: {records:,} consent records, {subjects:,} subjects (filled in {filled:.1f} s)\n"
    )
    print("| decision | mean µs | p50 µs | p99 µs |")
    print("|---|---|---|---|")
    known = [request("marketing", customer(rng.randrange(subjects))) for _ in range(samples)]
    unknown = [
        request("marketing", customer(subjects + rng.randrange(10**6))) for _ in range(samples)
    ]
    # warm up both paths (query plans, statement caches)
    for r in known[:200]:
        decide(r, True)
        decide(r, False)
    it = iter(known)
    base = timed(lambda: decide(next(it), False), samples)
    print(row("baseline: the same decisions, consent gate off", base))
    it = iter(known)
    hit = timed(lambda: decide(next(it), True), samples)
    print(row("one subject with consent records (marketing)", hit))
    it = iter(unknown)
    miss = timed(lambda: decide(next(it), True), samples)
    print(row("one subject with no record", miss))
    denied = sum(not decide(r, True).allowed for r in known[:2000])
    print(f"\n{denied} of 2,000 subject decisions denied by consent (withdrawn or never granted)")
    table = request("marketing", None)
    first = timed(lambda: decide(table, True), 1)
    cached = timed(lambda: decide(table, True), 50)
    refs = decide(table, True).row_filter
    sizes = [len(c.value["refs"]) for c in refs or [] if isinstance(c.value, dict)]
    print(
        f"whole table: row filter of {sizes} subject references; first build {first[0] / 1000:,.0f} ms, "
        f"then p50 {pct(cached, 0.5) / 1000:,.1f} ms (cached until a consent record is added)"
    )
    verdict = "met" if pct(hit, 0.99) < 1000 and pct(miss, 0.99) < 1000 else "NOT met"
    print(f"\ngoal (p99 < 1 ms for a single-subject decision with {records:,} records): {verdict}")
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--postgres", help="a PostgreSQL URL (a fresh database is made in it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run(f"sqlite:///{tmp}/consent.db", "SQLite", args.records, args.samples)
    if args.postgres:
        admin = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
        name = f"bench_consent_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = sa.engine.make_url(args.postgres).set(database=name).render_as_string(False)
        try:
            run(url, "PostgreSQL", args.records, args.samples)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()


if __name__ == "__main__":
    main()
