"""Two worker processes share one audit chain; rate limits answer 429; the CLI verifies."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import TEST_AUDIT_KEY
from tests.integration.conftest import LiveServer, make_database, start_server, stop_server

REQUEST = {
    "subject": {"id": "user:alice"},
    "action": "read",
    "resource": {"dataset": "webshop/clickstream", "columns": ["ip_address"]},
    "purpose": "analytics",
    "context": {"region": "EU"},
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def two_workers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    url, cleanup = make_database(request.param, tmp_path)
    server = start_server(tmp_path, url, workers=2)
    try:
        yield server
    finally:
        stop_server(server)
        cleanup()  # type: ignore[operator]


def cli(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        **server.env,  # the server's key ring and anchor file
        "GOVERNANCE_DATABASE_URL": server.database_url,
        "GOVERNANCE_AUDIT__HMAC_KEY": TEST_AUDIT_KEY,
    }
    return subprocess.run(
        [sys.executable, "-m", "governance.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_two_processes_keep_the_trail_intact(two_workers: LiveServer) -> None:
    """Each worker appends to its own chain; the CLI verifies every chain and every
    checkpoint the workers anchored, and names a tampered record by chain and position."""

    def call(_: int) -> str:
        with two_workers.client() as c:
            r = c.post("/v1/decide/batch", json={"requests": [REQUEST] * 5})
            assert r.status_code == 200, r.text
            return str(r.json()["decisions"][0]["decision"])

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(call, range(120)))
    assert set(results) == {"allow"}
    anchored = cli(two_workers, "audit", "checkpoint")
    assert anchored.returncode == 0, anchored.stderr
    verified = cli(two_workers, "audit", "verify")
    assert verified.returncode == 0, verified.stderr
    assert "600 record(s) in" in verified.stdout
    assert "0 record(s) after it" in verified.stdout
    # now tamper with one record directly in the database: the CLI names it
    engine = sa.create_engine(two_workers.database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE decision_log SET decision = 'deny' WHERE seq = 123"))
        chain, position = conn.execute(
            sa.text("SELECT chain, chain_seq FROM decision_log WHERE seq = 123")
        ).one()
    engine.dispose()
    broken = cli(two_workers, "audit", "verify")
    assert broken.returncode == 1
    assert f"broken at {chain}#{position}" in broken.stderr.replace("\n", " ")


def test_rate_limits_answer_429(tmp_path: Path) -> None:
    url, cleanup = make_database("sqlite", tmp_path)
    server = start_server(
        tmp_path,
        url,
        extra_env={
            "GOVERNANCE_API__RATE_LIMIT_PER_SECOND": "1",
            "GOVERNANCE_API__RATE_LIMIT_BURST": "3",
        },
    )
    try:
        with server.client() as c:
            codes = [c.post("/v1/decide", json=REQUEST).status_code for _ in range(6)]
            last = c.post("/v1/decide", json=REQUEST)
        assert codes[:3] == [200, 200, 200]
        assert 429 in codes[3:]
        assert last.status_code == 429
        assert last.headers["content-type"] == "application/problem+json"
        assert int(last.headers["retry-after"]) >= 1
        # another caller has its own bucket
        with server.client("admin") as other:
            assert other.post("/v1/decide", json=REQUEST).status_code == 200
    finally:
        stop_server(server)
        cleanup()  # type: ignore[operator]


def test_keys_create_prints_the_key_once_and_it_works(tmp_path: Path) -> None:
    url, cleanup = make_database("sqlite", tmp_path)
    server = start_server(tmp_path, url)
    try:
        made = cli(
            server,
            "keys",
            "create",
            "--role",
            "service",
            "--name",
            "cli-made",
            "--acts-for",
            "user:alice,service:churn-pipeline",
        )
        assert made.returncode == 0, made.stderr
        token = made.stdout.strip()
        assert token.startswith("gov_")
        r = httpx.post(
            f"{server.url}/v1/decide", json=REQUEST, headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 200
        listed = cli(server, "keys", "list")
        assert "cli-made" in listed.stdout
        assert token.rsplit("_", 1)[1] not in listed.stdout
        assert token not in server.logs()
    finally:
        stop_server(server)
        cleanup()  # type: ignore[operator]
