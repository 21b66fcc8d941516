"""The decision API under load: wrk against uvicorn with 2 workers, single and batch calls.

Three server configurations, measured in one run with the same load:
  1. baseline: every decision by plain ``casbin.Enforcer.enforce`` (fast path and cache off);
  2. the compiled path, decision cache off;
  3. the default: compiled path and decision cache on;
  4. the default without the lineage event each allowed decision writes (its cost, shown apart).
Each server gets 3 s of warm-up load first, not counted.
Every call is a full decision: authenticated, decided, and recorded in the hash-chained audit
log (and its lineage event in the outbox) before the answer. wrk rotates through 500 distinct
requests on the shipped policy. Prints requests/s, decisions/s and latency p50/p99 from wrk.

    python bench/pdp_http.py [--seconds 15] [--connections 32] [--database-url URL]

Needs wrk (Debian: apt-get install wrk). Defaults to a fresh SQLite file, the embedded default.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from governance.callers import ApiKeys  # noqa: E402
from governance.db import create_database  # noqa: E402
from governance.schema import upgrade  # noqa: E402

BATCH = 100


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bodies(rng: random.Random, n: int) -> list[dict[str, Any]]:
    subjects = [
        "user:alice",
        "user:bob",
        "user:carol",
        "user:dave",
        "user:erin",
        "user:grace",
        "service:churn-pipeline",
        "service:recommender",
    ]
    datasets = [
        "crm/customers",
        "webshop/orders",
        "webshop/clickstream",
        "app/events",
        "callcentre/calls",
        "ml/churn_features",
        "pos/receipts",
        "analytics/daily_sales",
    ]
    purposes = ["analytics", "model_training", "customer_support", "marketing", "fraud_prevention"]
    out = []
    for i in range(n):
        out.append(
            {
                "subject": {
                    "id": rng.choice(subjects),
                    "attributes": {"privacy_training": rng.random() < 0.7},
                },
                "action": rng.choice(["read", "read", "write"]),
                "resource": {"dataset": rng.choice(datasets)},
                "purpose": rng.choice(purposes),
                "context": {
                    "region": rng.choice(["EU", "UK", "US"]),
                    "channel": rng.choice(["web", "app", "crm", "callcentre"]),
                    "trace": i,
                },
            }
        )
    return out


def lua_script(token: str, payloads: list[str]) -> str:
    items = ",\n".join(f"[==[{p}]==]" for p in payloads)
    return f"""
local bodies = {{
{items}
}}
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
request = function()
  i = i + 1
  return wrk.format(nil, nil, nil, bodies[(i % #bodies) + 1])
end
"""


def to_ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, script: Path, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "60s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = to_ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = to_ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    if errors:
        print(f"    wrk: {errors.group(0)}")
    return {
        "rps": rps,
        "p50": p50,
        "p99": p99,
        "non2xx": float(non2xx.group(1)) if non2xx else 0.0,
        "socket_errors": 1.0 if errors else 0.0,
    }


def start(
    database_url: str, policy_dir: Path, env_extra: dict[str, str], log: Path
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "GOVERNANCE_DATABASE_URL": database_url,
        "GOVERNANCE_POLICY_DIR": str(policy_dir),
        "GOVERNANCE_LOG_LEVEL": "WARNING",
        **env_extra,
    }
    with log.open("ab") as out:
        proc = subprocess.Popen(
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
                "2",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.terminate()
    raise SystemExit(f"server did not start; see {log}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    rng = random.Random(7)
    work = Path(tempfile.mkdtemp(prefix="pdp-http-"))
    database_url = args.database_url or f"sqlite:///{work / 'governance.db'}"
    upgrade(database_url)
    db = create_database(database_url)
    # bound to the subjects it asks about: a key bound to nobody gets 403 for every decision
    _, token = ApiKeys(db).create(
        f"bench-{os.getpid()}-{time.time_ns()}", "service", "user:*,service:*"
    )
    db.dispose()
    payloads = bodies(rng, 500)
    single = work / "single.lua"
    single.write_text(lua_script(token, [json.dumps(b) for b in payloads]))
    batch = work / "batch.lua"
    batch.write_text(
        lua_script(
            token,
            [
                json.dumps({"requests": [payloads[(i * 7 + j) % 500] for j in range(BATCH)]})
                for i in range(50)
            ],
        )
    )
    configs = [
        (
            "plain casbin.Enforcer.enforce (baseline)",
            {"GOVERNANCE_PDP_FAST_PATH": "false", "GOVERNANCE_DECISION_CACHE_SIZE": "0"},
        ),
        ("compiled path, no decision cache", {"GOVERNANCE_DECISION_CACHE_SIZE": "0"}),
        ("compiled path + decision cache (default)", {}),
        (
            "default, lineage events of decisions off",
            {"GOVERNANCE_LINEAGE__RECORD_DECISIONS": "false"},
        ),
    ]
    print(
        f"wrk -t2 -c{args.connections} -d{args.seconds}s; uvicorn --workers 2; database {database_url.split(':')[0]}; "
        f"{os.cpu_count()} CPUs shared by wrk and the server"
    )
    print(
        f"{'configuration':<44}{'call':<12}{'requests/s':>12}{'decisions/s':>13}{'p50 ms':>9}{'p99 ms':>9}"
    )
    policy_dir = ROOT / "policies"
    for label, env in configs:
        # the PII analyzer is not on the decision path: loading spaCy in each worker would take
        # CPU from the first seconds of the measurement
        env = {"GOVERNANCE_PII__PRELOAD": "false", **env}
        proc, url = start(database_url, policy_dir, env, work / "server.log")
        try:
            run_wrk(url + "/v1/decide", single, 3, args.connections)  # warm-up, not counted
            for kind, script, path, per in (
                ("single", single, "/v1/decide", 1),
                (f"batch {BATCH}", batch, "/v1/decide/batch", BATCH),
            ):
                r = run_wrk(url + path, script, args.seconds, args.connections)
                flag = "" if not r["non2xx"] else f"  ({int(r['non2xx'])} non-2xx!)"
                print(
                    f"{label:<44}{kind:<12}{r['rps']:>12,.0f}{r['rps'] * per:>13,.0f}{r['p50']:>9.2f}{r['p99']:>9.2f}{flag}"
                )
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    db = create_database(database_url)
    from governance.audit import AuditLog
    from governance.config import get_settings

    result = AuditLog(db, get_settings().audit.hmac_key.get_secret_value().encode()).verify()
    db.dispose()
    print(f"audit chain after the run: {result}")


if __name__ == "__main__":
    main()
