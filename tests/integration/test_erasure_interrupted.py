"""An erasure killed halfway (kill -9 right after a source committed its deletion, before the
receipt said so) is completed by running the same plan again, and the receipts add up."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import POLICIES, TEST_AUDIT_KEY
from tests.integration.conftest import make_database

SCRIPT = r"""
import json, os, sys
from governance.config import get_settings
from governance.services import build_all
from governance.subjects.identifiers import SubjectIdentifiers

mode, state_file = sys.argv[1], sys.argv[2]
services = build_all(get_settings())
subjects = services.subjects

def decide(request, by):
    return services.decisions.decide(request, by)

if mode == "plan":
    subject = SubjectIdentifiers(customer_id=sys.argv[3])
    view = subjects.requests.open("erasure", subject, "gdpr", by="test")
    subjects.requests.transition(view.id, "verified", by="test")
    plan = subjects.plan_erasure(view.id, by="test")
    json.dump({"id": view.id, "digest": plan.digest,
               "steps": [s.model_dump(mode="json") for s in plan.steps]}, open(state_file, "w"))
    services.close()
    sys.exit(0)

state = json.load(open(state_file))
if mode == "kill":
    from governance.subjects import erasure
    real = erasure.Eraser._apply
    def apply_then_die(self, engine, match, step):
        erased = real(self, engine, match, step)
        if step.step == int(sys.argv[3]):
            os._exit(9)   # the source committed; the receipt still says "started"
        return erased
    erasure.Eraser._apply = apply_then_die
receipts = subjects.erase(state["id"], state["digest"], principal="user:frank", by="test",
                          decide=decide, context={"region": "EU"})
print(json.dumps([r.model_dump(mode="json") for r in receipts]))
print(json.dumps(subjects.requests.get(state["id"]).public()))
services.close()
"""


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_killed_erasure_resumes_and_its_receipts_add_up(tmp_path: Path, kind: str) -> None:
    from governance.demo import retail

    url, cleanup = make_database(kind, tmp_path)
    retail_url = f"sqlite:///{tmp_path / 'retail.db'}"
    data = retail.build(retail_url, n=40, subject_index=9)
    shutil.copytree(POLICIES, tmp_path / "policies")
    env = {
        **os.environ,
        "GOVERNANCE_ENVIRONMENT": "test",
        "GOVERNANCE_DATABASE_URL": url,
        "GOVERNANCE_POLICY_DIR": str(tmp_path / "policies"),
        "GOVERNANCE_AUDIT__HMAC_KEY": TEST_AUDIT_KEY,
        "GOVERNANCE_AUDIT__ANCHOR_PATH": str(tmp_path / "anchor.jsonl"),
        "GOVERNANCE_PII__KEY_FILE": str(tmp_path / "ring.json"),
        "GOVERNANCE_PII__PRELOAD": "false",
        retail.CONNECTION: retail_url,
    }
    state = tmp_path / "state.json"
    customer = data.sample["customer_id"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", SCRIPT, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    engine = sa.create_engine(retail_url)
    tables = {"crm/customers": "customers", "webshop/orders": "orders", "app/events": "app_events"}
    with engine.connect() as conn:
        held = {
            ds: int(
                conn.execute(
                    sa.text(f"SELECT count(*) FROM {t} WHERE customer_id = :c"),
                    {"c": customer},
                ).scalar_one()
            )
            for ds, t in tables.items()
        }
    try:
        planned = run("plan", str(state), customer)
        assert planned.returncode == 0, planned.stderr
        steps = json.loads(state.read_text())["steps"]
        assert len(steps) >= 2
        killed = run("kill", str(state), "2")
        assert killed.returncode == 9, killed.stderr
        resumed = run("resume", str(state))
        assert resumed.returncode == 0, resumed.stderr
    finally:
        cleanup()  # type: ignore[operator]
    receipts_line, request_line = resumed.stdout.strip().splitlines()[-2:]
    receipts = json.loads(receipts_line)
    request = json.loads(request_line)
    assert [r["status"] for r in receipts] == ["done"] * len(steps)
    assert receipts[1]["detail"].startswith("completed after an interruption")
    by_dataset = {r["dataset"]: r for r in receipts}
    for dataset, count in held.items():
        if count:
            assert by_dataset[dataset]["rows_found"] == count
            assert by_dataset[dataset]["rows_erased"] == count
            assert by_dataset[dataset]["rows_remaining"] == 0
    assert request["status"] == "completed"
    with engine.connect() as conn:
        for dataset, table in tables.items():
            left = conn.execute(
                sa.text(f"SELECT count(*) FROM {table} WHERE customer_id = :c"),
                {"c": customer},
            ).scalar_one()
            assert left == 0, dataset
    engine.dispose()
