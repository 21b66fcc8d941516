"""Models and migrations never drift, on SQLite and PostgreSQL."""

from __future__ import annotations

from governance.schema import drift, upgrade


def test_autogenerate_finds_nothing(database_url: str) -> None:
    assert drift(database_url) == []


def test_upgrade_is_idempotent(database_url: str) -> None:
    upgrade(database_url)
    assert drift(database_url) == []
