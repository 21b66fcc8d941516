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

import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import uvicorn
from rich.console import Console

from governance.api.app import create_app
from governance.callers import ApiKeys
from governance.config import Settings
from governance.db import create_database
from governance.demo import retail
from governance.demo.context import DemoContext, Step
from governance.demo.reporting import step_planted_divergence, step_reports
from governance.demo.rights import step_subject_rights
from governance.demo.steps import (
    step_audit,
    step_decisions,
    step_lineage,
    step_pipeline,
    step_prompt,
)
from governance.schema import upgrade


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


STEPS: list[Step] = [
    step_decisions,
    step_pipeline,
    step_prompt,
    step_lineage,
    step_planted_divergence,
    step_subject_rights,
    step_reports,
    step_audit,
]
DEMO_KEYS = {
    # role: the principals the demo's key of that role may ask decisions for
    "service": "service:churn-pipeline,user:*",
    "auditor": "",
    "steward": "",
    "admin": "user:*",
}


def run_demo(settings: Settings, *, host: str, port: int, serve: bool, console: Console) -> None:
    console.print(
        f"[bold]governance demo[/bold]: database {settings.database_url}, policies {settings.policy_dir}"
    )
    upgrade(settings.database_url)
    out_dir = Path("var/demo")
    out_dir.mkdir(parents=True, exist_ok=True)
    retail_url = (
        os.environ.get(retail.CONNECTION) or f"sqlite:///{(out_dir / 'retail.db').resolve()}"
    )
    os.environ[retail.CONNECTION] = retail_url  # the catalog's sources name this variable
    data = retail.build(retail_url)
    console.print(f"retail data set: {data.customers} customers in {retail_url}")
    db = create_database(settings.database_url)
    keys: dict[str, str] = {}
    api_keys = ApiKeys(db)
    for role, acts_for in DEMO_KEYS.items():
        # the same four keys on every run, with fresh secrets: a rerun mints nothing new
        keys[role] = api_keys.reissue(f"demo-{role}", role, acts_for)
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
    ctx = DemoContext(
        console,
        url,
        keys,
        settings,
        retail_url=retail_url,
        started=datetime.now(UTC),
        out_dir=out_dir,
        notes={"subject": data.sample},
    )
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
