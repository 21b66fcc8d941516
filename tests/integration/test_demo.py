"""The README's first command: `governance demo` runs the service and the demo pipeline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import POLICIES
from tests.integration.conftest import free_port


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "GOVERNANCE_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
        "GOVERNANCE_POLICY_DIR": str(POLICIES),
        "COLUMNS": "200",
    }
    result = subprocess.run(
        [sys.executable, "-m", "governance.cli", "demo", "--no-serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "denied by policy.csv" in out
    assert "needs request attribute 'region'" in out
    assert "hash chain: intact (" in out
    # the pipeline through the adapters: scanned, governed, reported to lineage
    assert "ps_" in out  # customer ids pseudonymized with the service's key ring
    assert "models dataset:ml:churn_model" in out
    assert "ml:churn_features:customer_token (masking transformation)" in out
    # the LLM prompt: the model sees placeholders, the agent the originals
    seen = next(line for line in out.splitlines() if line.startswith("the model sees:"))
    assert "<PERSON_1>" in seen
    assert "Margaret Hughes" not in seen
    assert "ORD-4829135778" in seen or "<ORDER_NUMBER_1>" in seen
    assert "<PHONE_NUMBER_" not in seen.split("order")[1].split("never")[0]
    # subject rights: consent denials, then one customer's access and erasure
    assert "consent for marketing withdrawn" in out
    assert "Global Privacy Control" in out
    assert "customer_id (pseudonymize, domain ml)" in out  # the derived features, by pseudonym
    assert "trained on data that holds this subject" in out  # the churn model, by lineage
    receipts = out[out.index("erasure receipts:") :]
    assert "ml/churn_features" in receipts
    assert "nothing left" in receipts
    assert "is now completed" in out
