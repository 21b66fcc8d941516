"""The demo's last steps: a planted divergence, then every report kind, signed and written to
``var/demo/reports/``, and one of them verified."""

from __future__ import annotations

from pathlib import Path

from governance.demo.context import DemoContext


def step_planted_divergence(ctx: DemoContext) -> None:
    """An analyst reads app events for analytics: the policy allows it, but purposes.yaml does
    not declare app/events for analytics. The record of processing must flag it."""
    ctx.console.rule("An analyst reads app events for analytics (not declared for it)")
    with ctx.client("service") as client:
        answer = client.post(
            "/v1/decide",
            json={
                "subject": {"id": "user:alice"},
                "action": "read",
                "resource": {"dataset": "app/events", "columns": ["customer_id", "event_type"]},
                "purpose": "analytics",
                "context": {"region": "EU", "channel": "app"},
            },
        ).json()
    ctx.console.print(f"user:alice reads app/events for analytics → {answer['decision']}")


def step_reports(ctx: DemoContext) -> None:
    ctx.console.rule("Reports for the auditor and the DPO, built from evidence and signed")
    out = ctx.out_dir / "reports"
    out.mkdir(parents=True, exist_ok=True)
    wanted: list[tuple[str, dict[str, str], str]] = [
        ("ropa", {}, "html"),
        ("ropa", {}, "json"),
        ("ccpa", {}, "html"),
        ("ai", {"model": "ml/churn_model"}, "html"),
        ("dsar", {"request_id": ctx.notes.get("access_request", "")}, "html"),
        ("erasure", {"request_id": ctx.notes.get("erasure_request", "")}, "html"),
        ("decisions", {"dataset": "crm/customers"}, "html"),
    ]
    paths: list[Path] = []
    with ctx.client("auditor") as auditor:
        for kind, params, fmt in wanted:
            response = auditor.get(f"/v1/reports/{kind}", params={**params, "format": fmt})
            response.raise_for_status()
            path = out / f"{kind}.{fmt}"
            path.write_bytes(response.content)
            paths.append(path)
        pdf = auditor.get("/v1/reports/ropa", params={"format": "pdf"})
        if pdf.status_code == 200:
            (out / "ropa.pdf").write_bytes(pdf.content)
            paths.append(out / "ropa.pdf")
        else:
            ctx.console.print(f"[yellow]no PDF: {pdf.json().get('detail')}[/yellow]")
        ropa = (out / "ropa.json").read_bytes()
        verified = auditor.post("/v1/reports/verify", content=ropa).json()
        tampered = auditor.post(
            "/v1/reports/verify", content=ropa.replace(b"alice", b"alicf", 1)
        ).json()
        ai = auditor.get("/v1/reports/ai", params={"model": "ml/churn_model"}).json()
        divergences = auditor.get("/v1/reports/ropa").json()["content"]["divergences"]
    for path in paths:
        ctx.console.print(f"  {path}")
    planted = [
        d for d in divergences if "app/events" in d["datasets"] and d["purpose"] == "analytics"
    ]
    ctx.console.print(
        f"record of processing: {len(divergences)} divergence(s); the planted one: "
        + (planted[0]["detail"] if planted else "[red]missing[/red]")
    )
    flags = ", ".join(f"{f['flag']} ({f['detail'][:80]})" for f in ai["content"]["dpia_flags"])
    ctx.console.print(f"AI report of ml/churn_model, DPIA screening: {flags or 'none'}")
    ctx.console.print(
        f"verify ropa.json: ok={verified['ok']}; with one byte changed: ok={tampered['ok']} "
        f"({'; '.join(tampered['problems'])})"
    )
    ctx.notes["reports"] = [str(p) for p in paths]
