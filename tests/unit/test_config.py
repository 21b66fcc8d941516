"""Settings come from GOVERNANCE_* variables, with safe defaults and no placeholder secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from governance.config import Environment, Settings


def test_defaults_are_embedded_and_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GOVERNANCE_DATABASE_URL", "GOVERNANCE_POLICY_DIR", "GOVERNANCE_ENVIRONMENT"):
        monkeypatch.delenv(var, raising=False)
    s = Settings()
    assert s.database_url.startswith("sqlite:///")
    assert s.policy_dir == Path("policies")
    assert s.lineage.backend == "sql"


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVERNANCE_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("GOVERNANCE_POLICY_DIR", "/etc/governance/policies")
    monkeypatch.setenv("GOVERNANCE_API__MAX_BODY_BYTES", "2048")
    s = Settings()
    assert s.database_url == "postgresql+psycopg://u@h/db"
    assert s.policy_dir == Path("/etc/governance/policies")
    assert s.api.max_body_bytes == 2048


def test_production_refuses_the_placeholder_audit_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOVERNANCE_AUDIT__HMAC_KEY", raising=False)
    monkeypatch.setenv("GOVERNANCE_AUDIT__ANCHOR_PATH", "/mnt/witness/audit-checkpoints.jsonl")
    with pytest.raises(ValidationError, match="GOVERNANCE_AUDIT__HMAC_KEY"):
        Settings(environment=Environment.production)
    monkeypatch.setenv("GOVERNANCE_AUDIT__HMAC_KEY", "a-real-secret-from-the-vault")
    s = Settings(environment=Environment.production)
    assert "a-real-secret" not in repr(s)  # secrets never print


def test_production_refuses_to_start_without_an_anchor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVERNANCE_AUDIT__HMAC_KEY", "a-real-secret-from-the-vault")
    monkeypatch.delenv("GOVERNANCE_AUDIT__ANCHOR_PATH", raising=False)
    monkeypatch.delenv("GOVERNANCE_AUDIT__ANCHOR_URL", raising=False)
    with pytest.raises(ValidationError, match="anchor"):
        Settings(environment=Environment.production)
    monkeypatch.setenv("GOVERNANCE_AUDIT__ANCHOR_URL", "https://witness.example/checkpoints")
    assert Settings(environment=Environment.production).anchor_file() is None
