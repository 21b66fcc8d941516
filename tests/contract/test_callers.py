"""API keys: shown once, stored as a hash, verified in constant time, revocable."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from governance.callers import ApiKeys, CallerRole
from governance.db import Database
from governance.errors import Conflict, InvalidInput, Unauthenticated


def test_a_key_verifies_and_only_its_hash_is_stored(database: Database) -> None:
    keys = ApiKeys(database, cache_seconds=0)
    caller, token = keys.create("churn-pipeline", "service")
    assert caller.role is CallerRole.service
    assert keys.verify(token) == caller
    secret = token.rsplit("_", 1)[1]
    with database.engine.connect() as conn:
        stored = [tuple(r) for r in conn.execute(sa.text("SELECT * FROM api_key"))]
    assert stored
    assert all(secret not in str(value) for value in stored[0])


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
        lambda t: "gov_0000000000000000_" + t.rsplit("_", 1)[1],
        lambda t: "not-a-key",
        lambda t: "",
    ],
)
def test_wrong_keys_are_refused(database: Database, mangle: object) -> None:
    keys = ApiKeys(database, cache_seconds=0)
    _, token = keys.create("svc", "service")
    with pytest.raises(Unauthenticated):
        keys.verify(mangle(token))  # type: ignore[operator]


def test_revoked_keys_stop_working(database: Database) -> None:
    keys = ApiKeys(database, cache_seconds=60)
    _, token = keys.create("auditor-1", "auditor")
    keys.verify(token)
    keys.revoke("auditor-1")
    with pytest.raises(Unauthenticated):
        keys.verify(token)


def test_names_are_unique_and_roles_known(database: Database) -> None:
    keys = ApiKeys(database)
    keys.create("dup", "admin")
    with pytest.raises(Conflict):
        keys.create("dup", "admin")
    with pytest.raises(InvalidInput):
        keys.create("x", "superuser")


def test_reissuing_a_key_keeps_one_key_and_retires_the_old_secret(database: Database) -> None:
    keys = ApiKeys(database, cache_seconds=0)
    first = keys.reissue("demo-service", "service", "service:churn-pipeline")
    assert keys.verify(first).acts_for == ("service:churn-pipeline",)
    second = keys.reissue("demo-service", "service", "user:*")
    assert [k.name for k in keys.list()] == ["demo-service"]
    with pytest.raises(Unauthenticated):
        keys.verify(first)
    assert keys.verify(second).acts_for == ("user:*",)


def test_a_key_acts_only_for_its_principals(database: Database) -> None:
    keys = ApiKeys(database, cache_seconds=0)
    _, token = keys.create("svc", "service", "service:churn-*,user:carol")
    caller = keys.verify(token)
    assert caller.may_act_for("service:churn-pipeline")
    assert caller.may_act_for("user:carol")
    assert not caller.may_act_for("user:dave")
    _, nobody = keys.create("unbound", "service")
    assert not keys.verify(nobody).may_act_for("service:churn-pipeline")
