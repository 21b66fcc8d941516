"""A policy file written in two steps never serves its first half, with two live workers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import LiveServer, make_database, start_server, stop_server

# allowed by policy.csv:54 (analysts read customer profiles), denied by the explicit deny of
# line 97 (EU residents' data outside the EU): the first half of the file allows it
DENIED = {
    "subject": {"id": "user:alice"},
    "action": "read",
    "resource": {"dataset": "crm/customers", "columns": ["email"]},
    "purpose": "analytics",
    "context": {"region": "US"},
}


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("reload")
    url, cleanup = make_database("sqlite", tmp)
    server = start_server(tmp, url, workers=2)
    try:
        yield server
    finally:
        stop_server(server)
        cleanup()  # type: ignore[operator]


def _first_half(text: str) -> str:
    lines = text.splitlines(keepends=True)
    cut = next(i for i, line in enumerate(lines) if line.startswith("p,") and "deny" in line)
    return "".join(lines[:cut])


def test_a_two_step_write_never_serves_the_first_half(two_workers: LiveServer) -> None:
    live = two_workers
    policy_csv: Path = live.policy_dir / "policy.csv"
    whole = policy_csv.read_text()
    answers: list[tuple[str, str]] = []
    stop = threading.Event()

    def ask() -> None:
        with live.client() as client:
            while not stop.is_set():
                try:
                    d = client.post("/v1/decide", json=DENIED).json()
                    answers.append((d["decision"], d["policy_version"]))
                except httpx.HTTPError:
                    answers.append(("error", ""))
                time.sleep(0.02)

    with live.client("steward") as steward:
        before = steward.get("/v1/policy/status").json()["version"]
        asker = threading.Thread(target=ask)
        asker.start()
        try:
            time.sleep(0.5)
            policy_csv.write_text(_first_half(whole))  # step one
            time.sleep(4.0)  # longer than the settle interval: the half file is judged
            rejected = [steward.get("/v1/policy/status").json()["last_rejection"] for _ in range(6)]
            policy_csv.write_text(whole + "# published in two steps\n")  # step two
            deadline = time.monotonic() + 20
            while True:
                seen = {steward.get("/v1/policy/status").json()["version"] for _ in range(6)}
                if before not in seen:
                    break
                assert time.monotonic() < deadline, "the whole file was not picked up"
                time.sleep(0.2)
            time.sleep(0.5)
        finally:
            stop.set()
            asker.join(timeout=10)

    assert len(answers) > 30
    assert [a for a in answers if a[0] != "deny"] == []
    assert any(r is not None and any("policy test" in e for e in r["errors"]) for r in rejected)
    versions = {v for _, v in answers}
    assert before in versions
    assert len(versions) == 2
