"""``governance demo``: the service plus a demo AI pipeline, on embedded defaults.

It migrates a SQLite database under ``var/``, starts the HTTP service, creates API keys, and runs
an omni-channel scenario against the real API:

1. decisions: a churn-model pipeline asking for data, a support agent in the call centre, a
   request that policy denies, one that fails closed, a batch;
2. the churn pipeline itself, through ``adapters``: it scans a customer extract for PII, reads it
   through a governed DataFrame (obligations applied with the service's key ring), and reports
   its feature and training runs to the lineage graph with the openlineage-python client;
3. a support-chat prompt for an LLM, with the personal data swapped for placeholders and back;
4. the auditor's view: where each PII column of the extract went (PII flow), what the extract
   feeds (impact, down to the model), and the decision trail with its hash chain.
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


PIPELINE_CONTEXT = {"region": "EU", "channel": "crm"}


def _customers(rows: int = 60) -> Any:
    """A CRM extract as the churn pipeline gets it (fake people, fixed seed)."""
    import pandas as pd
    from faker import Faker

    fake = Faker(["en_GB"])
    fake.seed_instance(42)
    return pd.DataFrame(
        {
            "customer_id": [f"CU{10_000_000 + i}" for i in range(rows)],
            "full_name": [fake.name() for _ in range(rows)],
            "email": [fake.email() for _ in range(rows)],
            "phone": [fake.phone_number() for _ in range(rows)],
            "date_of_birth": [fake.date_of_birth(minimum_age=18).isoformat() for _ in range(rows)],
            "iban": [fake.iban() for _ in range(rows)],
            "region": ["EU"] * rows,
            "segment": [("gold", "silver", "bronze")[i % 3] for i in range(rows)],
        }
    )


def step_pipeline(ctx: DemoContext) -> None:
    from adapters.client import GovernanceClient
    from adapters.openlineage import Dataset, LineageEmitter
    from adapters.tables import governed_frame
    from governance.pdp.engine import PolicyDecisionPoint
    from governance.pii.analyzer import PiiAnalyzer
    from governance.pii.keyring import keyring_from_settings
    from governance.pii.operators import Protector
    from governance.pii.scan import TableScanner

    settings = ctx.settings
    frame = _customers()
    ctx.console.rule("The churn pipeline scans its CRM extract for personal data")
    analyzer = PiiAnalyzer.from_settings(settings)
    verdicts = TableScanner(analyzer).classify(
        {str(c): [str(v) for v in frame[c]] for c in frame.columns}
    )
    table = Table("column", "PII found", "confidence", "how")
    for v in verdicts:
        table.add_row(v.column, ", ".join(v.pii_types) or "-", f"{v.confidence:.2f}", v.method)
    ctx.console.print(table)
    found = {v.column: list(v.pii_types) for v in verdicts if v.pii_types}

    ctx.console.rule("... reads it through the governance service, and builds features")
    # the service's key ring and pseudonym domains: the pipeline's tokens are the service's
    bundle = PolicyDecisionPoint.from_directory(settings.policy_dir).bundle
    protector = Protector(keyring_from_settings(settings), domains=bundle.pseudonym_domains())
    with GovernanceClient(ctx.url, ctx.keys["service"]) as client:
        decision = client.decide(
            "service:churn-pipeline",
            "crm/customers",
            "model_training",
            columns=list(frame.columns),
            context=PIPELINE_CONTEXT,
        )
        features = governed_frame(
            client,
            protector,
            frame,
            subject="service:churn-pipeline",
            dataset="crm/customers",
            purpose="model_training",
            context=PIPELINE_CONTEXT,
        )
    actions = {o.column: o.action.value for o in decision.obligations}
    table = Table("column", "obligation", "first value the pipeline sees")
    for column in frame.columns:
        action = actions.get(str(column), "drop")
        seen = str(features[column].iloc[0]) if column in features.columns else "(dropped)"
        table.add_row(str(column), action, seen)
    ctx.console.print(table)

    emitter = LineageEmitter.http(ctx.url, ctx.keys["service"], namespace="ml")
    source = Dataset("crm", "customers", [str(c) for c in frame.columns], classifications=found)
    feature_set = Dataset("ml", "churn_features", [str(c) for c in features.columns])
    model = Dataset("ml", "churn_model", ["churn_score"], dataset_type="MODEL")
    lineage = {
        ("ml", "churn_features", str(c)): [("crm", "customers", str(c), actions[str(c)])]
        for c in features.columns
    }
    with emitter.run(
        "churn.build_features", inputs=[source], outputs=[feature_set], column_lineage=lineage
    ):
        pass
    with emitter.run("churn.train", inputs=[feature_set], outputs=[model]):
        pass
    ctx.console.print(
        "two runs reported to the lineage graph (openlineage-python, HTTP transport): "
        "churn.build_features, churn.train"
    )


def step_prompt(ctx: DemoContext) -> None:
    from adapters.client import GovernanceClient
    from adapters.llm import PromptGuard

    ctx.console.rule("A support chat goes to an LLM without the customer's personal data")
    chat = (
        "Hi, this is Margaret Hughes. My parcel for order ORD-4829135778 never came. "
        "Please call me on +44 20 7946 0958 or mail margaret.hughes@example.co.uk, "
        "and refund my card 4111 1111 1111 1111."
    )
    with GovernanceClient(ctx.url, ctx.keys["service"]) as client:
        guard = PromptGuard(client.analyze)
        scrubbed = guard.scrub(chat)
    ctx.console.print(f"[bold]customer wrote:[/bold] {chat}", highlight=False)
    ctx.console.print(f"[bold]the model sees:[/bold] {scrubbed.text}", highlight=False)
    # no model runs offline; a reply in the shape a model gives, using the placeholders it saw
    person = next((p for p in scrubbed.mapping if p.startswith("<PERSON_")), "there")
    email = next((p for p in scrubbed.mapping if p.startswith("<EMAIL_ADDRESS_")), "")
    reply = f"Dear {person}, we are sorry. A refund is on its way; confirmation goes to {email}."
    ctx.console.print(f"[bold]model reply:[/bold]   {reply}", highlight=False)
    ctx.console.print(
        f"[bold]agent sees:[/bold]    {guard.restore(reply, scrubbed)}", highlight=False
    )


def _drained(ctx: DemoContext, client: httpx.Client, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while client.get("/v1/lineage/status").json().get("outboxDepth", 0) > 0:
        if time.monotonic() > deadline:
            ctx.console.print("[yellow]lineage outbox still draining[/yellow]")
            return
        time.sleep(0.1)


def step_lineage(ctx: DemoContext) -> None:
    ctx.console.rule("The auditor asks: where did the extract's personal data go?")
    with ctx.client("auditor") as client:
        _drained(ctx, client)
        table = Table("field", "PII types", "reaches", "stopped at (why)")
        for column in ("customer_id", "full_name", "email", "phone", "date_of_birth", "iban"):
            flow = client.get(
                "/v1/lineage/pii-flow", params={"nodeId": f"datasetField:crm:customers:{column}"}
            ).json()
            reaches = ", ".join(
                f"{r['field'].split(':', 1)[1]} ({', '.join(r['piiTypes'])})"
                for r in flow.get("reaches", [])
            )
            stopped = ", ".join(
                f"{s['field'].split(':', 1)[1]} ({s['reason']})" for s in flow.get("stopped", [])
            )
            table.add_row(
                column, ", ".join(flow.get("piiTypes", [])) or "-", reaches or "-", stopped or "-"
            )
        ctx.console.print(table)
        impact = client.get("/v1/lineage/impact", params={"nodeId": "dataset:crm:customers"}).json()
    ctx.console.print(
        "crm/customers feeds: datasets "
        + ", ".join(impact.get("datasets", []))
        + "; jobs "
        + ", ".join(impact.get("jobs", []))
        + "; models "
        + (", ".join(m["id"] for m in impact.get("models", [])) or "-")
    )


STEPS: list[Step] = [step_decisions, step_pipeline, step_prompt, step_lineage, step_audit]


def run_demo(settings: Settings, *, host: str, port: int, serve: bool, console: Console) -> None:
    console.print(
        f"[bold]governance demo[/bold]: database {settings.database_url}, policies {settings.policy_dir}"
    )
    upgrade(settings.database_url)
    db = create_database(settings.database_url)
    keys: dict[str, str] = {}
    suffix = secrets.token_hex(3)
    api_keys = ApiKeys(db)
    acts_for = {"service": "service:churn-pipeline,user:*", "admin": "user:*"}
    for role in ("service", "auditor", "steward", "admin"):
        _, keys[role] = api_keys.create(f"demo-{role}-{suffix}", role, acts_for.get(role, ""))
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
