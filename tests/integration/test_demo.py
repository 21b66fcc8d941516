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
    assert "hash chain: intact (104 records)" in out
