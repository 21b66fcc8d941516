"""Fixtures shared by every suite: the two SQL databases, settings and a policy directory.

SQL-touching tests take ``database_url``, which is parametrised over SQLite and PostgreSQL.
PostgreSQL comes from ``GOVERNANCE_TEST_POSTGRES_URL`` (``scripts/postgres.sh start`` prints one).
With ``GOVERNANCE_TEST_REQUIRE_SERVICES=1`` (set by the test script and CI) a missing service is
a failure, not a skip.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from governance.config import AuditSettings, Environment, PiiSettings, Settings
from governance.db import Database, create_database
from governance.schema import upgrade
from lineage.neo4j_server import Neo4jServer

REPO = Path(__file__).resolve().parents[1]
POLICIES = REPO / "policies"
REQUIRE_SERVICES = os.environ.get("GOVERNANCE_TEST_REQUIRE_SERVICES") == "1"
POSTGRES_URL = os.environ.get("GOVERNANCE_TEST_POSTGRES_URL", "")
TEST_AUDIT_KEY = "test-audit-key-not-a-secret"


def missing_service(name: str, hint: str) -> None:
    message = f"{name} is not available: {hint}"
    if REQUIRE_SERVICES:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres") and not POSTGRES_URL:
        missing_service(
            "PostgreSQL", "set GOVERNANCE_TEST_POSTGRES_URL (scripts/postgres.sh start)"
        )


# ---- SQL databases -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for every test (migrating once is the slow part)."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this session, dropped at the end."""
    if not POSTGRES_URL:
        missing_service("PostgreSQL", "set GOVERNANCE_TEST_POSTGRES_URL")
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"gov_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _truncate_all(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            tables = [
                r[0]
                for r in conn.exec_driver_sql(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'alembic_version'"
                )
            ]
            if tables:
                quoted = ", ".join(f'"{t}"' for t in tables)
                conn.exec_driver_sql(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated, empty database: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "governance.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_database")
    _truncate_all(url)
    return url


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = create_database(database_url)
    yield db
    db.dispose()


# ---- Neo4j -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def neo4j_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Neo4jServer]:
    """A real Neo4j server for the session, started from the jars (lineage/neo4j_server)."""
    from lineage.neo4j_server import Neo4jUnavailable

    home = tmp_path_factory.mktemp("neo4j")
    server = Neo4jServer(home / "data")
    try:
        server.start()
    except Neo4jUnavailable as exc:
        missing_service("Neo4j", str(exc))
    try:
        yield server
    finally:
        server.stop()


# ---- policies and settings ---------------------------------------------------------------------


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    """A private copy of the shipped policy directory, safe to edit."""
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    return target


@pytest.fixture
def make_settings(policy_dir: Path) -> object:
    def make(database_url: str, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "environment": Environment.test,
            "database_url": database_url,
            "policy_dir": policy_dir,
            "policy_reload_seconds": 0.2,
            "audit": AuditSettings(
                hmac_key=TEST_AUDIT_KEY,
                group_commit_ms=1.0,
                anchor_path=policy_dir.parent / "audit-checkpoints.jsonl",
            ),
            "pii": PiiSettings(key_file=policy_dir.parent / "pii-keyring.json", preload=False),
        }
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]

    return make


# ---- no silent runs ----------------------------------------------------------------------------

_outcomes: dict[str, list[str]] = {"passed": [], "skipped": []}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.passed:
        _outcomes["passed"].append(report.nodeid)
    elif report.skipped:
        _outcomes["skipped"].append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI (services required) a run that passes nothing, or skips anything, fails."""
    if not REQUIRE_SERVICES or exitstatus not in (0, 5):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    problems = []
    if not _outcomes["passed"]:
        problems.append("no test passed")
    if _outcomes["skipped"]:
        problems.append(f"{len(_outcomes['skipped'])} test(s) skipped: {_outcomes['skipped'][:5]}")
    if problems:
        if reporter is not None:
            reporter.write_line("FAILED (services required): " + "; ".join(problems), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
