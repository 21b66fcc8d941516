"""The demo's subject-rights step: consent in decisions, then one customer's access and
erasure requests, worked end to end against the retail database, the derived features (found
by pseudonym) and the churn model (found through lineage)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from governance.demo.context import DemoContext


def _decide(ctx: DemoContext, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    with ctx.client("service") as client:
        response = client.post("/v1/decide", json=body, headers=headers or None)
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
    return answer


def _show(ctx: DemoContext, title: str, answer: dict[str, Any]) -> None:
    colour = "green" if answer["decision"] == "allow" else "red"
    ctx.console.print(f"{title} → [{colour}]{answer['decision']}[/{colour}]: {answer['reason']}")


def step_subject_rights(ctx: DemoContext) -> None:
    subject = ctx.notes["subject"]
    customer, email = subject["customer_id"], subject["email"]
    other = "CU10000011"
    ctx.console.rule("Consent and opt-outs change decisions from the next one on")
    marketing = {
        "subject": {"id": "user:alice"},
        "action": "read",
        "resource": {"dataset": "crm/customers", "columns": ["customer_id", "email"]},
        "purpose": "marketing",
        "context": {"region": "EU", "channel": "crm"},
        "subject_ref": {"customer_id": other},
    }
    with ctx.client("service") as client:
        for status in ("granted", "withdrawn"):
            client.post(
                "/v1/consents",
                json={
                    "subject": {"customer_id": other},
                    "purpose": "marketing",
                    "status": status,
                    "evidence": {"form": "newsletter-signup-v3"},
                },
            ).raise_for_status()
    _show(ctx, f"marketing e-mail to {other}, who withdrew consent", _decide(ctx, marketing))
    sale = {
        "subject": {"id": "user:alice"},
        "action": "export",
        "resource": {"dataset": "analytics/daily_sales"},
        "purpose": "sale_of_data",
        "context": {"region": "EU"},
        "subject_ref": {"customer_id": "CU10000012"},
    }
    _show(
        ctx,
        "a sale of CU10000012's data, sent with Sec-GPC: 1",
        _decide(ctx, sale, **{"Sec-GPC": "1"}),
    )
    table = {**marketing, "subject_ref": None}
    answer = _decide(ctx, {k: v for k, v in table.items() if v is not None})
    filters = ", ".join(f"{c['column']} {c['op']}" for c in answer["row_filter"] or [])
    ctx.console.print(
        f"marketing over the whole table → {answer['decision']}, row filter: {filters}"
    )
    ctx.notes["consent_denials"] = 2

    ctx.console.rule(f"Customer {customer} asks what we hold about them (GDPR Art. 15)")
    with ctx.client("steward") as steward:
        opened = steward.post(
            "/v1/privacy-requests",
            json={"kind": "access", "subject": {"customer_id": customer}, "jurisdiction": "gdpr"},
        ).json()
        steward.post(f"/v1/privacy-requests/{opened['id']}/status", json={"status": "verified"})
        result = steward.post(
            f"/v1/privacy-requests/{opened['id']}/access", json={"include_values": False}
        ).json()
        steward.post(
            f"/v1/privacy-requests/{opened['id']}/status",
            json={"status": "completed", "reason": "access result sent to the customer"},
        )
    ctx.notes["access_request"] = opened["id"]
    found = Table("where", "rows", "found by", "PII types held")
    for d in result["datasets"]:
        types = sorted({f["pii_type"] for f in d["fields"]} - {"NONE", "UNKNOWN"})
        found.add_row(d["dataset"], str(d["rows"]), ", ".join(d["matched_by"]), ", ".join(types))
    for m in result["models"]:
        run = m["runs"][0] if m["runs"] else {}
        found.add_row(
            m["model"],
            "-",
            "lineage: " + ", ".join(m["trained_on"]),
            f"{m['note']} (run {str(run.get('run_id', ''))[:8]}, {run.get('ended_at', '')})",
        )
    ctx.console.print(found)
    purposes = ", ".join(f"{p['purpose']} ({p['lawful_basis']})" for p in result["purposes"])
    ctx.console.print(f"processed for: {purposes or '-'}")
    ctx.console.print(f"recipients: {', '.join(r['job'] for r in result['recipients']) or '-'}")

    ctx.console.rule("... and then to be erased (GDPR Art. 17)")
    with ctx.client("steward") as steward, ctx.client("admin") as admin:
        opened = steward.post(
            "/v1/privacy-requests",
            json={
                "kind": "erasure",
                "subject": {"customer_id": customer, "email": email},
                "jurisdiction": "gdpr",
            },
        ).json()
        steward.post(f"/v1/privacy-requests/{opened['id']}/status", json={"status": "verified"})
        plan = steward.post(f"/v1/privacy-requests/{opened['id']}/erasure/plan").json()
        shown = Table("step", "dataset", "action", "rows", "why")
        for s in plan["steps"]:
            shown.add_row(str(s["step"]), s["dataset"], s["action"], str(s["rows"]), s["why"])
        ctx.console.print(f"the plan, downstream first (digest {plan['digest'][:16]}…):")
        ctx.console.print(shown)
        done = admin.post(
            f"/v1/privacy-requests/{opened['id']}/erasure/execute",
            json={
                "plan_digest": plan["digest"],
                "principal": "user:frank",
                "context": {"region": "EU"},
            },
        )
        done.raise_for_status()
    ctx.notes["erasure_request"] = opened["id"]
    receipts = Table("step", "dataset", "status", "found", "erased", "check", "finished")
    for r in done.json()["receipts"]:
        receipts.add_row(
            str(r["step"]),
            r["dataset"],
            r["status"],
            str(r["rows_found"] if r["rows_found"] is not None else "-"),
            str(r["rows_erased"] if r["rows_erased"] is not None else "-"),
            r["check"],
            (r["finished_at"] or "")[:19],
        )
    ctx.console.print("erasure receipts:")
    ctx.console.print(receipts)
    ctx.console.print(f"request {opened['id']} is now {done.json()['request']['status']}")
