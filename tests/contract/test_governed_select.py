"""``governed_select`` on SQLite and PostgreSQL: the filter runs in the database, the result is
what applying the decision in Python to the whole table gives, denies return nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from adapters.client import LocalDecider
from adapters.tables import governed_select
from governance.errors import AccessDenied
from governance.pdp.engine import PolicyDecisionPoint
from governance.pii.apply import apply_to_rows
from governance.pii.keyring import KeyRing
from governance.pii.operators import Protector

POLICIES = Path(__file__).resolve().parents[2] / "policies"
TABLE = "shop_customers_adapter"

ROWS = [
    {"customer_id": f"CU{10_000_000 + i}", "full_name": f"Customer {i}",
     "email": f"c{i}@example.com", "phone": f"+44 20 7946 {i:04d}",
     "region": ["EU", "US", None][i % 3], "consent_marketing": [True, False, None][(i % 3 == 0 and 2) or i % 2],
     "notes": f"door code {i}"}
    for i in range(30)
]  # fmt: skip


@pytest.fixture
def shop(database_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(database_url)
    meta = sa.MetaData()
    table = sa.Table(
        TABLE,
        meta,
        sa.Column("customer_id", sa.String(16), primary_key=True),
        sa.Column("full_name", sa.String(80)),
        sa.Column("email", sa.String(80)),
        sa.Column("phone", sa.String(40)),
        sa.Column("region", sa.String(8), nullable=True),
        sa.Column("consent_marketing", sa.Boolean, nullable=True),
        sa.Column("notes", sa.Text),
    )
    meta.drop_all(engine)
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), ROWS)
    yield engine
    meta.drop_all(engine)
    engine.dispose()


@pytest.fixture(scope="module")
def decider() -> LocalDecider:
    return LocalDecider(PolicyDecisionPoint.from_directory(POLICIES))


@pytest.fixture(scope="module")
def protector() -> Protector:
    return Protector(KeyRing.generate())


def expected(decider: LocalDecider, protector: Protector, **ask: object) -> list[dict[str, object]]:
    """Decide, then apply to every row in Python: what the pushed-down query must equal."""
    decision = decider.decide(columns=list(ROWS[0]), **ask)  # type: ignore[arg-type]
    return apply_to_rows(ROWS, decision, protector, purpose=str(ask["purpose"]))


@pytest.mark.parametrize(
    "ask",
    [
        # support agent in the call centre: only the rows of the caller's region
        {"subject": "user:carol", "dataset": "crm/customers", "purpose": "customer_support",
         "context": {"channel": "callcentre", "region": "EU"}},
        # marketing: only customers who opted in (NULL consent is not consent)
        {"subject": "user:alice", "dataset": "crm/customers", "purpose": "marketing",
         "context": {"channel": "web", "region": "EU"}},
    ],
)  # fmt: skip
def test_pushed_down_filter_equals_the_python_filter(
    shop: sa.Engine, decider: LocalDecider, protector: Protector, ask: dict[str, object]
) -> None:
    result = governed_select(
        decider,
        protector,
        shop,
        TABLE,
        order_by=["customer_id"],
        **ask,  # type: ignore[arg-type]
    )
    assert result.decision.allowed, result.decision.reason
    assert result.decision.row_filter, "these requests carry a row filter"
    assert "WHERE" in result.sql  # the filter went to the database ...
    want = expected(decider, protector, **ask)
    assert result.fetched == len(want) < len(ROWS)  # ... so only the allowed rows came back
    assert result.rows == want
    # no column the decision did not list, and never the notes (unclassified: masked at most)
    listed = {o.column for o in result.decision.obligations if o.action.value != "drop"}
    assert set(result.rows[0]) <= listed


def test_deny_raises_and_reads_nothing(
    shop: sa.Engine, decider: LocalDecider, protector: Protector
) -> None:
    statements: list[str] = []
    sa.event.listen(shop, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with pytest.raises(AccessDenied):
        governed_select(
            decider,
            protector,
            shop,
            TABLE,
            subject="user:nobody",
            dataset="crm/customers",
            purpose="sale_of_data",
        )
    assert not any(TABLE in s and s.lstrip().upper().startswith("SELECT") and "FROM" in s
                   and "customer_id" in s for s in statements)  # fmt: skip
