"""Legacy (unbound) encryption tokens migrate to bound ones, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from governance.cli import app
from governance.pii.keyring import KeyRing
from governance.pii.operators import Protector, TokenError


def test_rebind_rewrites_legacy_tokens_for_their_dataset_and_column(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ring_file = tmp_path / "ring.json"
    ring = KeyRing.generate()
    ring.save(ring_file)
    protector = Protector(ring)
    engine = sa.create_engine(database_url)
    values = [f"DE89 3704 0044 0532 0130 0{i}" for i in range(5)]
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE legacy_accounts (id INTEGER PRIMARY KEY, iban TEXT)")
        for i, v in enumerate(values):
            conn.execute(
                sa.text("INSERT INTO legacy_accounts (id, iban) VALUES (:i, :t)"),
                {"i": i, "t": protector.legacy_encrypt(v)},
            )
        conn.execute(sa.text("INSERT INTO legacy_accounts (id, iban) VALUES (99, 'plain')"))
    monkeypatch.setenv("GOVERNANCE_PII__KEY_FILE", str(ring_file))
    monkeypatch.setenv("LEGACY_DB_URL", database_url)
    from governance.config import get_settings

    get_settings.cache_clear()
    try:
        args = ["pii", "rebind", "LEGACY_DB_URL", "--table", "legacy_accounts"]
        args += ["--column", "iban", "--key", "id", "--dataset", "bank/accounts"]
        dry = CliRunner().invoke(app, args)
        assert dry.exit_code == 0, dry.output
        assert "5 legacy token(s)" in dry.output
        with engine.connect() as conn:
            assert all(
                t.startswith("enc_")
                for t in conn.execute(sa.text("SELECT iban FROM legacy_accounts WHERE id < 99"))
                .scalars()
                .all()
            )
        done = CliRunner().invoke(app, [*args, "--apply"])
        assert done.exit_code == 0, done.output
        assert "rebound 5" in done.output
    finally:
        get_settings.cache_clear()
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.text("SELECT id, iban FROM legacy_accounts")).all())
    engine.dispose()
    assert rows[99] == "plain"
    for i, value in enumerate(values):
        token = rows[i]
        assert token.startswith("encb_")
        assert protector.decrypt(token, dataset="bank/accounts", column="iban") == value
        with pytest.raises(TokenError):
            protector.decrypt(token, dataset="crm/customers", column="iban")
    again = CliRunner().invoke(app, [*args, "--apply"])  # nothing left to do
    assert "0 legacy token(s)" in again.output
