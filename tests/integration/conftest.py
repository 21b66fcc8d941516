"""A live service: ``uvicorn governance.api.main:app`` in a subprocess, over real HTTP."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from governance.callers import ApiKeys
from governance.db import create_database
from governance.schema import upgrade
from tests.conftest import POLICIES, POSTGRES_URL, TEST_AUDIT_KEY, missing_service


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    database_url: str
    policy_dir: Path
    keys: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)

    def client(self, role: str | None = "service", **kwargs: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def make_database(kind: str, tmp: Path) -> tuple[str, object]:
    """A migrated database for one server; returns its URL and a cleanup callback."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp / 'governance.db'}"
        upgrade(url)
        return url, lambda: None
    if not POSTGRES_URL:
        missing_service("PostgreSQL", "set GOVERNANCE_TEST_POSTGRES_URL")
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"gov_live_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    upgrade(url)

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return url, drop


def start_server(
    tmp: Path, database_url: str, *, workers: int = 1, extra_env: dict[str, str] | None = None
) -> LiveServer:
    policy_dir = tmp / "policies"
    if not policy_dir.exists():
        shutil.copytree(POLICIES, policy_dir)
    db = create_database(database_url)
    keys = ApiKeys(db)
    tokens = {}
    suffix = uuid.uuid4().hex[:6]
    for role in ("service", "auditor", "steward", "admin"):
        # the suite's service key asks about every principal of the shipped policy
        acts_for = "*" if role in ("service", "admin") else ""
        _, tokens[role] = keys.create(f"{role}-{suffix}", role, acts_for)
    db.dispose()
    port = free_port()
    env = {
        **os.environ,
        "GOVERNANCE_ENVIRONMENT": "test",
        "GOVERNANCE_DATABASE_URL": database_url,
        "GOVERNANCE_POLICY_DIR": str(policy_dir),
        "GOVERNANCE_POLICY_RELOAD_SECONDS": "0.2",
        "GOVERNANCE_AUDIT__HMAC_KEY": TEST_AUDIT_KEY,
        "GOVERNANCE_LOG_LEVEL": "INFO",
        "GOVERNANCE_PII__KEY_FILE": str(tmp / "pii-keyring.json"),
        "GOVERNANCE_AUDIT__ANCHOR_PATH": str(tmp / "audit-checkpoints.jsonl"),
        "GOVERNANCE_PII__PRELOAD": "false",  # modules that use PII turn it on
        **(extra_env or {}),
    }
    log = tmp / f"server-{port}.log"
    server = LiveServer(f"http://127.0.0.1:{port}", database_url, policy_dir, tokens, log, env=env)
    with log.open("wb") as out:
        server.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "governance.api.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--no-access-log",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.logs()}")
        try:
            if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop_server(server)
    raise RuntimeError(f"server did not start in 60 s:\n{server.logs()}")


def stop_server(server: LiveServer) -> None:
    if server.process is not None and server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One live service per test module and database kind."""
    if request.param == "postgres" and not POSTGRES_URL:
        missing_service("PostgreSQL", "set GOVERNANCE_TEST_POSTGRES_URL")
    tmp = tmp_path_factory.mktemp(f"live-{request.param}")
    url, cleanup = make_database(request.param, tmp)
    server = start_server(tmp, url)
    try:
        yield server
    finally:
        stop_server(server)
        cleanup()  # type: ignore[operator]
