"""``governance demo``: the service plus a demo AI pipeline, on embedded defaults.

It migrates a SQLite database under ``var/``, starts the HTTP service, creates API keys, and runs
an omni-channel scenario against the real API: a churn-model pipeline asking for data, a support
agent in the call centre, a request that policy denies, and an auditor checking the trail.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from rich.console import Console
from rich.table import Table

from governance.api.app import create_app
from governance.callers import ApiKeys
from governance.config import Settings
from governance.db import create_database
from governance.schema import upgrade

Step = Callable[["DemoContext"], None]


@dataclass
class DemoContext:
    console: Console
    url: str
    keys: dict[str, str]
    settings: Settings

    def client(self, role: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.keys[role]}"}, timeout=60
        )


class _Server(threading.Thread):
    def __init__(self, settings: Settings, host: str, port: int) -> None:
        super().__init__(name="demo-server", daemon=True)
        config = uvicorn.Config(
            create_app(settings), host=host, port=port, log_level="warning", access_log=False
        )
        self.server = uvicorn.Server(config)

    def run(self) -> None:
        self.server.run()

    def stop(self) -> None:
        self.server.should_exit = True
        self.join(timeout=15)


def _show_decision(
    ctx: DemoContext, title: str, body: dict[str, Any], answer: dict[str, Any]
) -> None:
    colour = "green" if answer["decision"] == "allow" else "red"
    ctx.console.rule(title)
    ctx.console.print(
        f"{body['subject']['id']} wants to [bold]{body['action']}[/bold] "
        f"{body['resource']['dataset']} for [bold]{body['purpose']}[/bold] "
        f"(context {body.get('context', {})})"
    )
    ctx.console.print(f"→ [{colour}]{answer['decision']}[/{colour}]: {answer['reason']}")
    if answer["obligations"]:
        table = Table("column", "PII type", "obligation")
        for o in answer["obligations"]:
            table.add_row(o["column"], o["pii_type"], o["action"])
        ctx.console.print(table)
    if answer.get("row_filter"):
        ctx.console.print(f"row filter: {answer['row_filter']}")


def step_decisions(ctx: DemoContext) -> None:
    scenarios = [
        (
            "The churn pipeline reads customer profiles to train a model",
            {
                "subject": {"id": "service:churn-pipeline"},
                "action": "read",
                "resource": {"dataset": "crm/customers"},
                "purpose": "model_training",
                "context": {"region": "EU", "channel": "crm"},
            },
        ),
        (
            "The same pipeline asks for card payments: an explicit deny",
            {
                "subject": {"id": "service:churn-pipeline"},
                "action": "read",
                "resource": {"dataset": "webshop/payments", "columns": ["card_number", "amount"]},
                "purpose": "model_training",
                "context": {"region": "EU"},
            },
        ),
        (
            "A support agent in the call centre looks a customer up",
            {
                "subject": {"id": "user:carol"},
                "action": "read",
                "resource": {
                    "dataset": "crm/customers",
                    "columns": ["full_name", "phone", "iban", "ssn"],
                },
                "purpose": "customer_support",
                "context": {"region": "EU", "channel": "callcentre"},
            },
        ),
        (
            "A request without the region attribute fails closed",
            {
                "subject": {"id": "user:alice"},
                "action": "read",
                "resource": {"dataset": "crm/customers", "columns": ["email"]},
                "purpose": "analytics",
                "context": {"channel": "web"},
            },
        ),
    ]
    with ctx.client("service") as client:
        for title, body in scenarios:
            response = client.post("/v1/decide", json=body)
            response.raise_for_status()
            _show_decision(ctx, title, body, response.json())
        batch = [s[1] for s in scenarios] * 25
        started = time.perf_counter()
        response = client.post("/v1/decide/batch", json={"requests": batch})
        response.raise_for_status()
        elapsed = time.perf_counter() - started
    ctx.console.rule("A batch of 100 decisions")
    ctx.console.print(
        f"{len(response.json()['decisions'])} decisions in {elapsed * 1000:.0f} ms, all recorded"
    )


def step_audit(ctx: DemoContext) -> None:
    with ctx.client("auditor") as client:
        page = client.get("/v1/audit/decisions", params={"limit": 5}).json()
        verify = client.get("/v1/audit/verify").json()
    ctx.console.rule("The auditor's view")
    table = Table("seq", "subject", "dataset", "purpose", "decision", "hash")
    for item in page["items"]:
        table.add_row(
            str(item["seq"]),
            item["subject"],
            item["dataset"],
            item["purpose"],
            item["decision"],
            item["hash"][:12],
        )
    ctx.console.print(table)
    state = (
        "[green]intact[/green]"
        if verify["ok"]
        else f"[red]broken at {verify['first_broken_seq']}[/red]"
    )
    ctx.console.print(f"hash chain: {state} ({verify['checked']} records)")


STEPS: list[Step] = [step_decisions, step_audit]


def run_demo(settings: Settings, *, host: str, port: int, serve: bool, console: Console) -> None:
    console.print(
        f"[bold]governance demo[/bold]: database {settings.database_url}, policies {settings.policy_dir}"
    )
    upgrade(settings.database_url)
    db = create_database(settings.database_url)
    keys: dict[str, str] = {}
    suffix = secrets.token_hex(3)
    api_keys = ApiKeys(db)
    for role in ("service", "auditor", "steward", "admin"):
        _, keys[role] = api_keys.create(f"demo-{role}-{suffix}", role)
    db.dispose()
    server = _Server(settings, host, port)
    server.start()
    url = f"http://{host}:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or not server.is_alive():
            raise RuntimeError("the service did not start; see the log above")
        time.sleep(0.1)
    ctx = DemoContext(console, url, keys, settings)
    try:
        for step in STEPS:
            step(ctx)
        console.rule("Done")
        if serve:
            console.print(f"The service keeps running at {url} (OpenAPI docs at {url}/docs).")
            console.print("API keys for this demo (shown once):")
            for role, token in keys.items():
                console.print(f"  {role:<8} {token}")
            console.print("Press Ctrl-C to stop.")
            while server.is_alive():
                time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
