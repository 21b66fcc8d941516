"""``governance scan`` on CSV, Parquet and a SQL table; stored suggestions; steward review."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from faker import Faker
from typer.testing import CliRunner

from governance.cli import app
from governance.config import get_settings
from governance.pii.checksums import luhn_check_digit

# the truth, by construction of the columns below
EXPECTED = {
    "customer_ref": ["CUSTOMER_ID"],
    "contact": ["EMAIL_ADDRESS"],
    "mobile": ["PHONE_NUMBER"],
    "card": ["CREDIT_CARD"],
    "bank_account": ["IBAN_CODE"],
    "client_ip": ["IP_ADDRESS"],
    "holder_name": ["PERSON"],
    "loyalty": ["LOYALTY_CARD"],
    "basket_total": [],
    "created_at": [],
    "note": ["FREE_TEXT"],
    "sku": [],
}


def table(rows: int = 400) -> pd.DataFrame:
    fake = Faker(["en_US", "en_GB", "de_DE"])
    fake.seed_instance(7)
    out = []
    for i in range(rows):
        digits = f"{4000 + i:04d}{i * 7 % 1000:03d}{i * 13 % 1000:03d}"[:9]
        loyalty = digits + luhn_check_digit(digits)
        name = fake["en_US"].name()
        out.append(
            {
                "customer_ref": f"CU{10_000_000 + i}",
                "contact": fake["en_US"].email(),
                "mobile": fake["en_GB"].phone_number() if i % 2 else fake["en_US"].phone_number(),
                "card": fake["en_US"].credit_card_number(card_type="visa16"),
                "bank_account": fake["de_DE"].iban(),
                "client_ip": fake["en_US"].ipv4_public() if i % 3 else fake["en_US"].ipv6(),
                "holder_name": name,
                "loyalty": f"OMC-{loyalty[:4]}-{loyalty[4:7]}-{loyalty[7:]}",
                "basket_total": round(10 + i * 1.37, 2),
                "created_at": f"2026-11-{1 + i % 28:02d}T10:{i % 60:02d}:00Z",
                "note": f"{name} called about the late parcel; call back on {fake['en_US'].phone_number()} "
                f"or write to {fake['en_US'].email()}.",
                "sku": f"SKU-{i % 37:05d}",
            }
        )
    return pd.DataFrame(out)


@pytest.fixture
def env(tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "gov.db"
    shutil.copy(sqlite_template, db)
    monkeypatch.setenv("GOVERNANCE_DATABASE_URL", f"sqlite:///{db}")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def verdicts(output: str) -> dict[str, list[str]]:
    doc = json.loads(output)
    return {c["column"]: c["pii_types"] for c in doc["columns"]}


def test_scan_files_and_sql_gets_every_column_right(env: Path) -> None:
    frame = table()
    csv, parquet = env / "customers.csv", env / "customers.parquet"
    frame.to_csv(csv, index=False)
    frame.to_parquet(parquet, index=False)
    sqlite = env / "shop.db"
    engine = sa.create_engine(f"sqlite:///{sqlite}")
    frame.to_sql("customers", engine, index=False)
    engine.dispose()
    runner = CliRunner()
    for args in ([str(csv)], [str(parquet)], [f"sqlite:///{sqlite}", "--table", "customers"]):
        result = runner.invoke(app, ["scan", *args, "--json", "--sample", "300"])
        assert result.exit_code == 0, result.output
        assert verdicts(result.output) == EXPECTED, args
        columns = json.loads(result.output)["columns"]
        for c in columns:  # every verdict says why, and the sample size
            assert c["sampled"] > 0
            if c["pii_types"]:
                assert c["explanation"]
        email = next(c for c in columns if c["column"] == "contact")
        assert "EmailRecognizer" in email["explanation"][0]
        assert "@" in email["explanation"][0]  # a redacted example
        assert not any(
            frame["contact"].iloc[i] in email["explanation"][0] for i in range(len(frame))
        )


def test_scan_bad_sources(env: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["scan", str(env / "missing.csv")]).exit_code == 2
    (env / "x.txt").write_text("a,b\n1,2\n")
    bad = runner.invoke(app, ["scan", str(env / "x.txt")])
    assert bad.exit_code == 1
    assert "CSV" in bad.output
    assert runner.invoke(app, ["scan", "sqlite:///x.db"]).exit_code == 2  # no --table


def test_stored_suggestions_reviewed_and_rescanned(env: Path) -> None:
    csv = env / "leads.csv"
    table(200).to_csv(csv, index=False)
    runner = CliRunner()
    first = runner.invoke(app, ["scan", str(csv), "--dataset", "crm/leads"])
    assert first.exit_code == 0, first.output
    assert "stored as suggestions" in first.output
    confirm = runner.invoke(
        app, ["classify", "confirm", "crm/leads", "contact", "EMAIL_ADDRESS", "--by", "frank"]
    )
    assert confirm.exit_code == 0, confirm.output
    reject = runner.invoke(
        app, ["classify", "reject", "crm/leads", "holder_name", "PERSON", "--by", "frank"]
    )
    assert reject.exit_code == 0, reject.output
    again = runner.invoke(app, ["scan", str(csv), "--dataset", "crm/leads"])
    assert again.exit_code == 0, again.output
    listing = runner.invoke(app, ["classify", "list", "--dataset", "crm/leads", "--json"])
    assert listing.exit_code == 0, listing.output
    cleaned = {(c["column"], c["pii_type"], c["status"]) for c in json.loads(listing.output)}
    assert ("contact", "EMAIL_ADDRESS", "confirmed") in cleaned
    assert ("holder_name", "PERSON", "rejected") in cleaned
    assert ("card", "CREDIT_CARD", "suggested") in cleaned
    unknown = runner.invoke(
        app, ["classify", "confirm", "crm/leads", "contact", "NOT_A_TYPE", "--by", "f"]
    )
    assert unknown.exit_code == 1
