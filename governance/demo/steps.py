"""The demo's steps before subject rights: decisions, the churn pipeline through the adapters,
an LLM prompt guard, the auditor's lineage and audit views."""

from __future__ import annotations

import time
from typing import Any

import httpx
from rich.table import Table

from governance.demo.context import DemoContext


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
        since = ctx.started.isoformat()
        page = client.get("/v1/audit/decisions", params={"limit": 1000, "since": since}).json()
        page["items"] = page["items"][-8:]  # this run's last records
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


def step_pipeline(ctx: DemoContext) -> None:
    import pandas as pd
    import sqlalchemy as sa

    from adapters.client import GovernanceClient
    from adapters.openlineage import Dataset, LineageEmitter
    from adapters.tables import governed_frame
    from governance.pdp.engine import PolicyDecisionPoint
    from governance.pii.analyzer import PiiAnalyzer
    from governance.pii.keyring import keyring_from_settings
    from governance.pii.operators import Protector
    from governance.pii.scan import TableScanner

    settings = ctx.settings
    engine = sa.create_engine(ctx.retail_url)
    columns = ["customer_id", "full_name", "email", "phone", "date_of_birth", "iban"]
    frame = pd.read_sql_table("customers", engine, columns=[*columns, "region", "segment"])
    orders = pd.read_sql_table(
        "orders", engine, columns=["order_id", "customer_id", "total_amount"]
    )
    events = pd.read_sql_table("app_events", engine, columns=["event_id", "customer_id"])
    clicks = pd.read_sql_table("clickstream", engine, columns=["session_id", "customer_id", "url"])
    ctx.console.rule("The churn pipeline scans its CRM extract for personal data")
    analyzer = PiiAnalyzer.from_settings(settings)
    verdicts = TableScanner(analyzer).classify(
        {str(c): [str(v) for v in frame[c].head(60)] for c in frame.columns}
    )
    table = Table("column", "PII found", "confidence", "how")
    for v in verdicts:
        table.add_row(v.column, ", ".join(v.pii_types) or "-", f"{v.confidence:.2f}", v.method)
    ctx.console.print(table)
    found = {v.column: list(v.pii_types) for v in verdicts if v.pii_types}

    ctx.console.rule("... reads customers, orders and app events through the service")
    # the service's key ring and pseudonym domains: the pipeline's tokens are the service's
    bundle = PolicyDecisionPoint.from_directory(settings.policy_dir, run_tests=False).bundle
    protector = Protector(keyring_from_settings(settings), domains=bundle.pseudonym_domains())

    def governed(client: GovernanceClient, data: Any, dataset: str) -> Any:
        return governed_frame(
            client,
            protector,
            data,
            subject="service:churn-pipeline",
            dataset=dataset,
            purpose="model_training",
            context=PIPELINE_CONTEXT,
        )

    with GovernanceClient(ctx.url, ctx.keys["service"]) as client:
        decision = client.decide(
            "service:churn-pipeline",
            "crm/customers",
            "model_training",
            columns=list(frame.columns),
            context=PIPELINE_CONTEXT,
        )
        people = governed(client, frame, "crm/customers")
        bought = governed(client, orders, "webshop/orders")
        used = governed(client, events, "app/events")
        # the policy hands URLs to training in the clear: the AI report will flag it
        browsed = governed(client, clicks, "webshop/clickstream")
    actions = {o.column: o.action.value for o in decision.obligations}
    table = Table("column", "obligation", "first value the pipeline sees")
    for column in frame.columns:
        action = actions.get(str(column), "drop")
        seen = str(people[column].iloc[0]) if column in people.columns else "(dropped)"
        table.add_row(str(column), action, seen)
    ctx.console.print(table)
    # customer ids arrive as pseudonyms of the ml domain in all three: they still join
    features = pd.DataFrame(
        {
            "customer_token": people["customer_id"],
            "orders_90d": people["customer_id"].map(bought.groupby("customer_id").size()),
            "app_sessions_30d": people["customer_id"].map(used.groupby("customer_id").size()),
            "pages_90d": people["customer_id"].map(browsed.groupby("customer_id")["url"].nunique()),
            "support_calls_90d": 0,
            "segment": people["segment"],
        }
    ).fillna({"orders_90d": 0, "app_sessions_30d": 0, "pages_90d": 0})
    with engine.begin() as conn:
        conn.execute(sa.delete(sa.table("churn_features")))
    features.to_sql("churn_features", engine, if_exists="append", index=False)
    engine.dispose()
    ctx.console.print(
        f"{len(features)} feature rows written to churn_features, keyed by pseudonym only "
        f"(first: {features['customer_token'].iloc[0]})"
    )

    emitter = LineageEmitter.http(ctx.url, ctx.keys["service"], namespace="ml")
    source = Dataset("crm", "customers", [str(c) for c in frame.columns], classifications=found)
    order_set = Dataset("webshop", "orders", list(orders.columns))
    event_set = Dataset("app", "events", list(events.columns))
    click_set = Dataset("webshop", "clickstream", list(clicks.columns))
    feature_set = Dataset("ml", "churn_features", list(features.columns))
    model = Dataset("ml", "churn_model", ["churn_score"], dataset_type="MODEL")
    lineage = {
        ("ml", "churn_features", "customer_token"): [
            ("crm", "customers", "customer_id", actions["customer_id"])
        ],
        ("ml", "churn_features", "orders_90d"): [("webshop", "orders", "order_id", "aggregate")],
        ("ml", "churn_features", "app_sessions_30d"): [("app", "events", "event_id", "aggregate")],
        ("ml", "churn_features", "pages_90d"): [("webshop", "clickstream", "url", "aggregate")],
        ("ml", "churn_features", "segment"): [("crm", "customers", "segment", "keep")],
    }
    with emitter.run(
        "churn.build_features",
        inputs=[source, order_set, event_set, click_set],
        outputs=[feature_set],
        column_lineage=lineage,
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
