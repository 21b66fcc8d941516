"""The OpenAPI document is the contract: schemathesis fuzzes every operation, as every role.

A live service (SQLite, the shipped policy, PII analysis loaded) is given a little data first,
so that the operations that read one resource reach it: a privacy request, a decision, a
lineage run. Then ``st run`` with every check (``--checks all``), a fixed seed and a fixed
example budget runs once per role. The test passes when schemathesis finds nothing: no server
error, no response outside its schema, no undocumented status, no schema-valid request refused
and no schema-violating request accepted.

Where the server must refuse a request whose every field is valid on its own, because two
fields disagree (which no JSON schema can say), the operation is named below with the reason,
and 422 is an expected answer there. The summaries are written to
``var/test-reports/schemathesis-<role>.txt``.
"""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO
from tests.integration.conftest import LiveServer, make_database, start_server, stop_server

pytestmark = [pytest.mark.slow, pytest.mark.fuzz]

SEED = 20261201
EXAMPLES = {"admin": 8, "steward": 5, "auditor": 5, "service": 5}
REPORTS = REPO / "var" / "test-reports"

# operation (path regex) -> why a 422 can answer a request that the schema alone allows
CROSS_FIELD = {
    "^/v1/reports/(ropa|ccpa|ai|decisions)$": "since must be before until",
    "^/v1/pii/anonymize$": "each span lies within the text; encrypt needs a dataset",
    "^/v1/audit/decisions$": "since must be before until",
    "^/v1/privacy-requests$": "since must be before until",
}


def _seed(server: LiveServer) -> dict[str, str]:
    """One of each resource the fuzzer cannot make for itself; their ids go in its config."""
    with server.client("admin") as c:
        opened = c.post(
            "/v1/privacy-requests",
            json={
                "kind": "access",
                "subject": {"customer_id": "CU10000042"},
                "jurisdiction": "gdpr",
            },
        )
        assert opened.status_code == 201, opened.text
        decided = c.post(
            "/v1/decide",
            json={
                "subject": {"id": "service:churn-pipeline"},
                "action": "read",
                "resource": {"dataset": "crm/customers"},
                "purpose": "model_training",
            },
        )
        assert decided.status_code == 200, decided.text
        run_id = str(uuid.uuid4())
        event = {
            "eventType": "COMPLETE",
            "eventTime": "2026-11-30T10:00:00Z",
            "producer": "https://example.com/contract-test",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": run_id},
            "job": {"namespace": "contract", "name": "seed_job"},
            "inputs": [{"namespace": "crm", "name": "customers"}],
            "outputs": [{"namespace": "contract", "name": "seed_out"}],
        }
        posted = c.post("/api/v1/lineage", json=event, params={"wait": "true"})
        assert posted.status_code in (200, 201, 202), posted.text
        # PII analysis loads in the background; its entity list is part of the contract
        assert c.post("/v1/pii/analyze", json={"text": "warm up"}).status_code == 200
    return {
        "request_id": opened.json()["id"],
        "run_id": run_id,
        "decision_id": decided.json()["decision_id"],
    }


def _config(tmp: Path, ids: dict[str, str]) -> Path:
    lines = [
        "[generation]",
        "allow-x00 = false  # NUL is refused by design (tests/integration/test_hostile_input.py)",
        'codec = "utf-8"  # so are lone surrogates, which UTF-8 cannot carry',
        "",
        "[parameters]",
        *(f'{name} = "{value}"' for name, value in ids.items()),
        "",
    ]
    for path, why in CROSS_FIELD.items():
        lines += [
            "[[operations]]",
            f"include-path-regex = '{path}'",
            f"# {why}",
            "checks.positive_data_acceptance.expected-statuses = "
            '["2xx", "401", "403", "404", "409", "422"]',
            "",
        ]
    config = tmp / "schemathesis.toml"
    config.write_text("\n".join(lines))
    return config


@pytest.fixture(scope="module")
def contract_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("contract")
    url, cleanup = make_database("sqlite", tmp)
    server = start_server(tmp, url, extra_env={"GOVERNANCE_PII__PRELOAD": "true"})
    try:
        yield server
    finally:
        stop_server(server)
        cleanup()  # type: ignore[operator]


@pytest.fixture(scope="module")
def config(contract_live: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _config(tmp_path_factory.mktemp("st"), _seed(contract_live))


@pytest.mark.parametrize("role", ["admin", "steward", "auditor", "service"])
def test_schemathesis_finds_nothing(contract_live: LiveServer, config: Path, role: str) -> None:
    schema = httpx.get(f"{contract_live.url}/openapi.json", timeout=30)
    assert schema.status_code == 200
    st = Path(sys.executable).with_name("st")
    result = subprocess.run(
        [
            str(st),
            "--config-file",
            str(config),
            "run",
            f"{contract_live.url}/openapi.json",
            "--checks",
            "all",
            "--seed",
            str(SEED),
            "--max-examples",
            str(EXAMPLES[role]),
            "--phases",
            "examples,coverage,fuzzing",
            "--workers",
            "1",
            "--no-color",
            "--header",
            f"Authorization: Bearer {contract_live.keys[role]}",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = result.stdout + result.stderr
    REPORTS.mkdir(parents=True, exist_ok=True)
    summary = output[output.rfind("SUMMARY") - 40 :] if "SUMMARY" in output else output[-3000:]
    (REPORTS / f"schemathesis-{role}.txt").write_text(summary)
    (REPORTS / f"schemathesis-{role}-full.txt").write_text(output)
    assert contract_live.keys[role] not in output  # the key is filtered from reproductions
    tested = re.search(r"Tested: (\d+)", output)
    assert tested is not None, summary
    assert int(tested.group(1)) > 40, summary
    assert result.returncode == 0, output[-20000:]
