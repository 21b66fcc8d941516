"""The demo's retail data set: a real SQL database (SQLite by default) that the catalog's
``source`` entries point at through ``RETAIL_DB_URL``.

Fake people from Faker with a fixed seed: customers, their web-shop orders, support tickets and
app events, each table indexed on its subject identifiers (as a real estate would be, and as
``bench/dsr.py`` measures). The churn pipeline later adds ``churn_features``, keyed only by the
customers' pseudonyms.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

CONNECTION = "RETAIL_DB_URL"
metadata = sa.MetaData()

customers = sa.Table(
    "customers",
    metadata,
    sa.Column("customer_id", sa.String(16), primary_key=True),
    sa.Column("full_name", sa.String(200), nullable=False),
    sa.Column("email", sa.String(320), nullable=False, index=True),
    sa.Column("phone", sa.String(40), index=True),
    sa.Column("date_of_birth", sa.String(10)),
    sa.Column("street_address", sa.String(300)),
    sa.Column("iban", sa.String(40)),
    sa.Column("loyalty_card", sa.String(20)),
    sa.Column("region", sa.String(8), nullable=False),
    sa.Column("segment", sa.String(16), nullable=False),
)
orders = sa.Table(
    "orders",
    metadata,
    sa.Column("order_id", sa.String(16), primary_key=True),
    sa.Column("customer_id", sa.String(64), nullable=False, index=True),
    sa.Column("email", sa.String(320), index=True),
    sa.Column("shipping_address", sa.String(300)),
    sa.Column("total_amount", sa.Float, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("ordered_at", sa.String(32), nullable=False),
)
support_tickets = sa.Table(
    "support_tickets",
    metadata,
    sa.Column("ticket_id", sa.String(16), primary_key=True),
    sa.Column("customer_id", sa.String(16), nullable=False, index=True),
    sa.Column("email", sa.String(320), index=True),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("opened_at", sa.String(32), nullable=False),
)
app_events = sa.Table(
    "app_events",
    metadata,
    sa.Column("event_id", sa.String(16), primary_key=True),
    sa.Column("customer_id", sa.String(16), nullable=False, index=True),
    sa.Column("event_type", sa.String(32), nullable=False),
    sa.Column("ip_address", sa.String(45)),
    sa.Column("geo_city", sa.String(100)),
    sa.Column("occurred_at", sa.String(32), nullable=False),
)
clickstream = sa.Table(
    "clickstream",
    metadata,
    sa.Column("session_id", sa.String(16), primary_key=True),
    sa.Column("customer_id", sa.String(16), nullable=False, index=True),
    sa.Column("ip_address", sa.String(45)),
    sa.Column("url", sa.String(300)),
    sa.Column("user_agent", sa.String(200)),
    sa.Column("clicked_at", sa.String(32), nullable=False),
)
churn_features = sa.Table(
    "churn_features",
    metadata,
    sa.Column("customer_token", sa.String(64), primary_key=True),
    sa.Column("orders_90d", sa.Integer, nullable=False),
    sa.Column("app_sessions_30d", sa.Integer, nullable=False),
    sa.Column("support_calls_90d", sa.Integer, nullable=False),
    sa.Column("pages_90d", sa.Integer, nullable=False, default=0),
    sa.Column("segment", sa.String(16)),
)


def customer_id(i: int) -> str:
    return f"CU{10_000_000 + i}"


@dataclass(frozen=True)
class RetailData:
    url: str
    customers: int
    sample: dict[str, Any]
    """One customer's row (the demo's data subject)."""


def build(url: str, *, n: int = 200, seed: int = 42, subject_index: int = 7) -> RetailData:
    """(Re)create the retail tables at ``url`` with ``n`` customers; idempotent (drops first)."""
    from faker import Faker

    fake = Faker(["en_GB"])
    fake.seed_instance(seed)
    rng = random.Random(seed)
    start = datetime(2026, 6, 1, tzinfo=UTC)
    engine = sa.create_engine(url)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    people = []
    for i in range(n):
        first, last = fake.first_name(), fake.last_name()
        people.append(
            {
                "customer_id": customer_id(i),
                "full_name": f"{first} {last}",
                "email": f"{first}.{last}{i}@example.co.uk".lower(),
                "phone": f"+44 20 7946 {i:04d}",
                "date_of_birth": fake.date_of_birth(minimum_age=18).isoformat(),
                "street_address": fake.street_address().replace("\n", ", "),
                "iban": fake.iban(),
                "loyalty_card": f"OMC{rng.randrange(10**9, 10**10)}",
                "region": "EU",
                "segment": ("gold", "silver", "bronze")[i % 3],
            }
        )
    order_rows, tickets, events, clicks = [], [], [], []
    for i, person in enumerate(people):
        for k in range(1 + i % 4):
            order_rows.append(
                {
                    "order_id": f"ORD{i:06d}{k}",
                    "customer_id": person["customer_id"],
                    "email": person["email"],
                    "shipping_address": person["street_address"],
                    "total_amount": round(rng.uniform(5, 400), 2),
                    "currency": "GBP",
                    "ordered_at": (start + timedelta(days=rng.randrange(150))).isoformat(),
                }
            )
        if i % 3 == 0:
            tickets.append(
                {
                    "ticket_id": f"T{i:06d}",
                    "customer_id": person["customer_id"],
                    "email": person["email"],
                    "subject": "Where is my parcel?",
                    "body": f"Hello, this is {person['full_name']}; my order never came.",
                    "opened_at": (start + timedelta(days=rng.randrange(150))).isoformat(),
                }
            )
        for k in range(i % 5):
            events.append(
                {
                    "event_id": f"E{i:06d}{k}",
                    "customer_id": person["customer_id"],
                    "event_type": ("app_open", "view_item", "add_to_cart")[k % 3],
                    "ip_address": f"81.2.{i % 250}.{k + 1}",
                    "geo_city": "London",
                    "occurred_at": (start + timedelta(hours=rng.randrange(3600))).isoformat(),
                }
            )
        for k in range(i % 3):
            clicks.append(
                {
                    "session_id": f"S{i:06d}{k}",
                    "customer_id": person["customer_id"],
                    "ip_address": f"81.2.{i % 250}.{k + 1}",
                    "url": f"https://shop.example/account/{person['customer_id']}/orders",
                    "user_agent": "Mozilla/5.0",
                    "clicked_at": (start + timedelta(hours=rng.randrange(3600))).isoformat(),
                }
            )
    with engine.begin() as conn:
        conn.execute(customers.insert(), people)
        if clicks:
            conn.execute(clickstream.insert(), clicks)
        conn.execute(orders.insert(), order_rows)
        if tickets:
            conn.execute(support_tickets.insert(), tickets)
        if events:
            conn.execute(app_events.insert(), events)
    engine.dispose()
    return RetailData(url, n, people[subject_index % n])
