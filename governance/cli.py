"""The ``governance`` command line: serve, demo, db, policy, audit, keys."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from governance.config import Settings, get_settings
from governance.errors import GovernanceError

if TYPE_CHECKING:
    from governance.callers import ApiKeys
    from lineage.outbox import OutboxDrain

app = typer.Typer(
    help="Data governance and compliance service.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(help="The SQL store.", no_args_is_help=True)
policy_app = typer.Typer(help="Policy files: lint and test.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys of callers.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(policy_app, name="policy")
app.add_typer(audit_app, name="audit")
app.add_typer(keys_app, name="keys")
neo4j_app = typer.Typer(help="A local Neo4j server (Maven jars + launcher).", no_args_is_help=True)
lineage_app = typer.Typer(help="The lineage outbox and graph.", no_args_is_help=True)
app.add_typer(neo4j_app, name="neo4j")
app.add_typer(lineage_app, name="lineage")
pii_app = typer.Typer(help="PII tokens and keys.", no_args_is_help=True)
app.add_typer(pii_app, name="pii")

console = Console()
err = Console(stderr=True)


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is now, not the one at set-up (which a test runner,
    or a daemonizing parent, may have closed since)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[_CurrentStderr()],
    )
    # pycasbin logs every request at INFO/WARNING; our audit trail is the record
    logging.getLogger("casbin").setLevel(logging.ERROR)
    # Presidio logs each analyzer build step at INFO, and warns about every recognizer of a
    # language the registry does not load (es, it, pl ...): noise on every start
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)


def _settings() -> Settings:
    try:
        return get_settings()
    except Exception as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


PolicyDir = Annotated[
    Path | None,
    typer.Option("--dir", help="Policy directory (default: GOVERNANCE_POLICY_DIR or policies/)."),
]


# ---- serve ---------------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes.")] = 1,
    migrate: Annotated[bool, typer.Option(help="Apply database migrations first.")] = True,
) -> None:
    """Run the HTTP API (uvicorn)."""
    import uvicorn

    from governance.pdp.bundle import analyse_policy_dir
    from governance.schema import upgrade

    settings = _settings()
    setup_logging(settings.log_level)
    analysis = analyse_policy_dir(settings.policy_dir)
    if analysis.bundle is None:
        err.print(f"[red]policy does not load:[/red] {analysis.errors[0]}")
        raise typer.Exit(1)
    if migrate:
        upgrade(settings.database_url)
    uvicorn.run(
        "governance.api.main:app",
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        access_log=False,
    )


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="Port of the demo service.")] = 8000,
    serve: Annotated[bool, typer.Option(help="Keep the service running after the demo.")] = True,
) -> None:
    """Start the service on embedded defaults and run the demo pipeline against it."""
    from governance.demo import run_demo

    settings = _settings()
    setup_logging("WARNING")
    run_demo(settings, host="127.0.0.1", port=port, serve=serve, console=console)


# ---- db ------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply the Alembic migrations up to REVISION (default: head)."""
    from governance.schema import upgrade

    settings = _settings()
    upgrade(settings.database_url, revision)
    console.print(f"database at [bold]{revision}[/bold]")


@db_app.command("check")
def db_check() -> None:
    """Exit non-zero if the models and the migrated database differ."""
    from governance.schema import drift

    diff = drift(_settings().database_url)
    if diff:
        for item in diff:
            err.print(str(item))
        raise typer.Exit(1)
    console.print("models and migrations agree")


# ---- policy --------------------------------------------------------------------------------


@policy_app.command("check")
def policy_check(directory: PolicyDir = None) -> None:
    """Lint the policy files and run their test cases, exactly as a reload judges them; print
    file:line: message and exit non-zero on any error."""
    from governance.pdp.bundle import analyse_policy_dir
    from governance.pdp.engine import policy_test_failures

    folder = directory or _settings().policy_dir
    analysis = analyse_policy_dir(folder)
    for finding in analysis.findings:
        stream = err if finding.severity == "error" else console
        stream.print(str(finding), markup=False, highlight=False)
    failures = policy_test_failures(analysis.bundle) if analysis.bundle is not None else []
    for failure in failures:
        err.print(failure, markup=False, highlight=False)
    errors = len(analysis.errors) + len(failures)
    warnings = len(analysis.findings) - len(analysis.errors)
    if errors:
        err.print(f"{errors} error(s), {warnings} warning(s): the policy would be rejected")
        raise typer.Exit(1)
    assert analysis.bundle is not None
    rules = len(analysis.bundle.lines.rules)
    console.print(
        f"policy OK: {rules} rules, version {analysis.version[:12]}, {warnings} warning(s)"
    )


@policy_app.command("test")
def policy_test(directory: PolicyDir = None) -> None:
    """Run the policy test cases in <dir>/tests and print a pass/fail table."""
    from governance.pdp.engine import PolicyDecisionPoint
    from governance.pdp.policytests import run_cases

    folder = directory or _settings().policy_dir
    try:
        pdp = PolicyDecisionPoint.from_directory(folder, cache_size=0, run_tests=False)
    except GovernanceError as exc:
        err.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from exc
    table = Table(title=f"policy tests ({folder}/tests)")
    table.add_column("case")
    table.add_column("result")
    table.add_column("detail", overflow="fold")
    failed = passed = 0
    for result in run_cases(pdp, folder / "tests"):
        mark = "[green]pass[/green]" if result.passed else "[red]FAIL[/red]"
        table.add_row(
            f"{result.case.file}:{result.case.line} {result.case.name}", mark, result.message
        )
        passed += result.passed
        failed += not result.passed
    console.print(table)
    console.print(f"{passed} passed, {failed} failed")
    if failed or not passed:
        raise typer.Exit(1)


# ---- audit ---------------------------------------------------------------------------------


@audit_app.command("verify")
def audit_verify(
    checkpoints: Annotated[
        Path | None,
        typer.Option(
            "--checkpoints",
            help="Anchor file of signed checkpoints (default: the configured anchor file).",
        ),
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option(
            "--public-key",
            help="Published signing keys (JSON from 'governance keys public' or "
            "GET /v1/reports/keys); default: the service's own key ring.",
        ),
    ] = None,
    records: Annotated[
        Path | None,
        typer.Option(
            "--records",
            help="Verify an export ('governance audit export') instead of the database: no "
            "database and no audit key needed.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Verify every audit chain and every anchored checkpoint; exit 1 if anything is broken.

    With --records, --checkpoints and --public-key an auditor checks a copy offline."""
    import dataclasses
    import json as jsonlib

    from governance.audit.checkpoints import read_checkpoint_file
    from governance.audit.verify import ExportError, verify_database, verify_export
    from governance.signing import KeySetError, parse_keyset

    settings = _settings()
    anchor = checkpoints or settings.anchor_file()
    try:
        stored = read_checkpoint_file(anchor) if anchor is not None and anchor.exists() else []
        if checkpoints is not None and not checkpoints.exists():
            raise FileNotFoundError(str(checkpoints))
        if public_key is not None:
            keys = parse_keyset(jsonlib.loads(public_key.read_text()))
        else:
            keys = {k.key_id: k for k in _signer(settings).public_keys()}
        if records is not None:
            result = verify_export(records, stored, keys)
        else:
            from governance.audit import AuditLog
            from governance.db import database_from_settings

            db = database_from_settings(settings)
            audit = AuditLog(db, settings.audit.hmac_key.get_secret_value().encode())
            result = verify_database(audit, stored, keys)
            db.dispose()
    except (OSError, ValueError, KeySetError, ExportError) as exc:
        err.print(f"[red]cannot verify: {exc}[/red]")
        raise typer.Exit(2) from exc
    if as_json:
        print(jsonlib.dumps(dataclasses.asdict(result), indent=2))
    elif result.ok:
        console.print(str(result))
        for warning in result.warnings:
            console.print(f"[yellow]warning:[/yellow] {warning}")
    else:
        err.print(f"[red]{result}[/red]")
    if not result.ok:
        raise typer.Exit(1)


@audit_app.command("export")
def audit_export(
    out: Annotated[Path, typer.Option("--out", help="File to write (JSON lines).")],
) -> None:
    """Write every audit record, chain by chain, for offline verification by an auditor."""
    from governance.audit import AuditLog
    from governance.audit.verify import write_export
    from governance.db import database_from_settings

    settings = _settings()
    db = database_from_settings(settings)
    written = write_export(AuditLog(db, b""), out)
    db.dispose()
    console.print(f"{written} record(s) written to {out}")


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign the current chain heads and append them to the anchor sinks now."""
    from governance.audit import AuditLog, Checkpointer
    from governance.db import database_from_settings
    from governance.services import anchor_sinks

    settings = _settings()
    sinks = anchor_sinks(settings)
    if not sinks:
        err.print("[red]no anchor sink is configured[/red]")
        raise typer.Exit(2)
    db = database_from_settings(settings)
    checkpointer = Checkpointer(AuditLog(db, b""), _signer(settings), sinks)
    checkpoint = checkpointer.checkpoint_now()
    db.dispose()
    if checkpointer.last_error:
        err.print(f"[red]{checkpointer.last_error}[/red]")
        raise typer.Exit(1)
    if checkpoint is None:
        console.print("nothing to anchor (no records, or already anchored)")
        return
    console.print(
        f"anchored {checkpoint['records']} record(s) in {len(checkpoint['chains'])} chain(s), "
        f"root {checkpoint['root'][:16]}…, key {checkpoint['kid']}"
    )


def _signer(settings: Settings) -> Any:
    from governance.pii.keyring import KeyRingError, keyring_from_settings
    from governance.signing import Signer

    try:
        return Signer(keyring_from_settings(settings))
    except KeyRingError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc


# ---- keys ----------------------------------------------------------------------------------


def _keys() -> ApiKeys:
    from governance.callers import ApiKeys
    from governance.db import database_from_settings

    return ApiKeys(database_from_settings(_settings()))


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="service, auditor, steward or admin.")],
    name: Annotated[str, typer.Option(help="Who the key is for (unique).")],
    acts_for: Annotated[
        str,
        typer.Option(
            "--acts-for",
            help="Principals the key may ask decisions for, comma-separated "
            "(service:churn-pipeline,user:*); none by default.",
        ),
    ] = "",
) -> None:
    """Create an API key and print it once; only its hash is stored."""
    keys = _keys()
    try:
        caller, token = keys.create(name, role, acts_for)
    except GovernanceError as exc:
        err.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from exc
    err.print(f"created {caller.role.value} key {caller.name!r}; it is shown only now:")
    print(token)


@keys_app.command("bind")
def keys_bind(
    name: Annotated[str, typer.Option(help="Name of the key.")],
    acts_for: Annotated[
        str, typer.Option("--acts-for", help="Principals, comma-separated (replaces the list).")
    ],
) -> None:
    """Set the principals an existing key may act for."""
    keys = _keys()
    try:
        principals = keys.bind(name, acts_for)
    except GovernanceError as exc:
        err.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"{name} acts for: {', '.join(principals) or 'nobody'}")


@keys_app.command("list")
def keys_list() -> None:
    """List keys (never their secrets)."""
    import json

    keys = _keys()
    table = Table()
    for column in ("id", "name", "role", "acts for", "created", "revoked"):
        table.add_column(column)
    for row in keys.list():
        table.add_row(
            row.id,
            row.name,
            row.role,
            ", ".join(json.loads(row.acts_for or "[]")),
            str(row.created_at),
            str(row.revoked_at or ""),
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Option(help="Name of the key.")]) -> None:
    """Revoke a key; it stops working within the key cache time."""
    keys = _keys()
    try:
        keys.revoke(name)
    except GovernanceError as exc:
        err.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"revoked {name}")


# ---- the PII key ring ----------------------------------------------------------------------

KeyFile = Annotated[
    Path | None,
    typer.Option("--key-file", help="Key ring file (default: GOVERNANCE_PII__KEY_FILE)."),
]


def _key_file(key_file: Path | None) -> Path:
    from governance.pii.keyring import DEV_KEY_FILE

    settings = _settings()
    if key_file is not None:
        return key_file
    if settings.pii.key_ring is not None:
        err.print(
            "[red]the key ring comes from GOVERNANCE_PII__KEY_RING; rotate the file it is "
            "injected from (--key-file) and redeploy[/red]"
        )
        raise typer.Exit(2)
    return settings.pii.key_file or DEV_KEY_FILE


@keys_app.command("rotate")
def keys_rotate(key_file: KeyFile = None) -> None:
    """Add a PII key and make it active (creates the ring if there is none).

    New tokens and hashes use the new key; encryption tokens made with older keys still
    reverse, since rotation never removes a key. Restart the service (or its workers) to use it.
    """
    from governance.pii.keyring import KeyRing, KeyRingError

    path = _key_file(key_file)
    try:
        ring = KeyRing.load(path).rotate() if path.exists() else KeyRing.generate(str(path))
        ring.save(path)
    except KeyRingError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"active key is now {ring.active_id}; the ring {path} holds {len(ring.keys)}")


@keys_app.command("public")
def keys_public(
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file.")] = None,
) -> None:
    """The public halves of the signing keys (what verifiers of checkpoints and reports need)."""
    import json as jsonlib

    text = jsonlib.dumps(_signer(_settings()).keyset(), indent=2)
    if out is None:
        print(text)
    else:
        out.write_text(text + "\n")
        console.print(f"public keys written to {out}")


@keys_app.command("ring")
def keys_ring(key_file: KeyFile = None) -> None:
    """List the PII key ring's key ids (never their material)."""
    from governance.pii.keyring import KeyRing, KeyRingError

    path = _key_file(key_file)
    try:
        ring = KeyRing.load(path)
    except KeyRingError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    table = Table()
    for column in ("key id", "created", "active"):
        table.add_column(column)
    for key in ring.keys:
        table.add_row(key.id, key.created.isoformat(), "yes" if key.id == ring.active_id else "")
    console.print(table)


# ---- scan and classifications --------------------------------------------------------------

classify_app = typer.Typer(
    help="Column classifications: review what scans suggest.", no_args_is_help=True
)
app.add_typer(classify_app, name="classify")


@app.command()
def scan(
    source: Annotated[str, typer.Argument(help="A CSV/Parquet file, or a SQLAlchemy URL.")],
    table: Annotated[str | None, typer.Option(help="Table name (with a URL source).")] = None,
    sample: Annotated[int | None, typer.Option(help="Values sampled per column.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    dataset: Annotated[
        str | None, typer.Option(help="ns/name: store the verdicts as suggestions for it.")
    ] = None,
) -> None:
    """Classify every column of a table: PII types, confidence, evidence."""
    import json as jsonlib
    import time

    from rich.progress import Progress

    from governance.pii.analyzer import PiiAnalyzer, PiiUnavailable
    from governance.pii.scan import TableScanner, read_file, sample_frame, sample_sql

    settings = _settings()
    rows = sample or settings.pii.scan_sample_rows
    started = time.perf_counter()
    try:
        if "://" in source:
            if not table:
                err.print("[red]a URL source needs --table[/red]")
                raise typer.Exit(2)
            columns = sample_sql(source, table, rows)
        else:
            path = Path(source)
            if not path.exists():
                err.print(f"[red]no such file: {source}[/red]")
                raise typer.Exit(2)
            columns = sample_frame(read_file(path), rows)
    except typer.Exit:
        raise
    except Exception as exc:
        err.print(f"[red]cannot read {source}: {type(exc).__name__}: {exc}[/red]")
        raise typer.Exit(1) from exc
    try:
        analyzer = PiiAnalyzer.from_settings(settings)
    except PiiUnavailable as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    scanner = TableScanner(analyzer, sample_rows=rows)
    with Progress(console=err, transient=True, disable=as_json) as progress:
        task = progress.add_task("classifying columns", total=len(columns))
        verdicts = scanner.classify(columns, progress=lambda _: progress.advance(task))
    took = time.perf_counter() - started
    stored = None
    if dataset:
        from governance.db import database_from_settings
        from governance.pdp.decision import DATASET_RE
        from governance.pii.classifications import ClassificationStore
        from lineage.outbox import enqueue

        if not DATASET_RE.match(dataset):
            err.print(f"[red]--dataset must be ns/name, not {dataset!r}[/red]")
            raise typer.Exit(2)
        db = database_from_settings(settings)
        store = ClassificationStore(db, events=lambda events: enqueue(db, events, "scan"))
        stored = len(store.record_scan(dataset, [v.suggestion() for v in verdicts]))
        db.dispose()
    if as_json:
        print(
            jsonlib.dumps(
                {
                    "source": source,
                    "table": table,
                    "seconds": round(took, 3),
                    "columns": [v.public() for v in verdicts],
                },
                indent=2,
            )
        )
        return
    out = Table(
        title=f"{source}{'#' + table if table else ''}: {len(verdicts)} columns in {took:.1f} s"
    )
    for column in ("column", "PII type", "confidence", "sampled", "how", "why"):
        out.add_column(column, overflow="fold")
    for v in verdicts:
        out.add_row(
            v.column,
            ", ".join(v.pii_types) or "-",
            f"{v.confidence:.2f}",
            str(v.sampled),
            v.method,
            "; ".join(v.explanation) or "-",
        )
    console.print(out)
    if stored is not None:
        console.print(
            f"stored as suggestions for {dataset} ({stored} rows); review them with 'governance classify list'"
        )


def _classifications() -> tuple[Any, Any]:
    from governance.db import database_from_settings
    from governance.pii.classifications import ClassificationStore
    from lineage.outbox import enqueue

    settings = _settings()
    db = database_from_settings(settings)
    return ClassificationStore(db, events=lambda events: enqueue(db, events, "classification")), db


@classify_app.command("list")
def classify_list(
    dataset: Annotated[str | None, typer.Option(help="Only this dataset (ns/name).")] = None,
    status: Annotated[str | None, typer.Option(help="suggested, confirmed or rejected.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Classifications and their review status."""
    import json as jsonlib

    store, db = _classifications()
    found = store.list(dataset=dataset, status=status)
    if as_json:
        print(
            jsonlib.dumps(
                [c.public() for c in found],  # the API's shape (GET /v1/pii/classifications)
                indent=2,
            )
        )
        db.dispose()
        return
    out = Table()
    for column in (
        "dataset",
        "column",
        "PII type",
        "status",
        "source",
        "confidence",
        "reviewed by",
    ):
        out.add_column(column)
    for c in found:
        out.add_row(
            c.dataset,
            c.column,
            c.pii_type,
            c.status,
            c.source,
            f"{c.confidence:.2f}",
            c.reviewed_by or "",
        )
    console.print(out)
    db.dispose()


def _review(dataset: str, column: str, pii_type: str, status: str, by: str) -> None:
    from governance.pdp.bundle import analyse_policy_dir

    store, db = _classifications()
    analysis = analyse_policy_dir(_settings().policy_dir)
    known = analysis.bundle.pii_types if analysis.bundle is not None else None
    try:
        c = store.review(dataset, column, pii_type, status=status, by=by, known_types=known)
    except GovernanceError as exc:
        err.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from exc
    finally:
        db.dispose()
    console.print(f"{c.dataset}.{c.column}: {c.pii_type} {c.status} by {c.reviewed_by}")


Reviewer = Annotated[str, typer.Option("--by", help="Who reviews (recorded).")]


@classify_app.command("confirm")
def classify_confirm(dataset: str, column: str, pii_type: str, by: Reviewer) -> None:
    """Confirm PII_TYPE for DATASET.COLUMN; decisions use it from now on."""
    _review(dataset, column, pii_type, "confirmed", by)


@classify_app.command("reject")
def classify_reject(dataset: str, column: str, pii_type: str, by: Reviewer) -> None:
    """Reject a suggested PII_TYPE for DATASET.COLUMN; later scans do not bring it back."""
    _review(dataset, column, pii_type, "rejected", by)


# ---- neo4j ---------------------------------------------------------------------------------

Neo4jHome = Annotated[Path, typer.Option("--home", help="Where the Neo4j store and its log live.")]


@neo4j_app.command("fetch")
def neo4j_fetch() -> None:
    """Copy the Neo4j Community jars from Maven (once; cached under .cache/neo4j)."""
    from lineage.neo4j_server import Neo4jUnavailable, fetch

    try:
        target = fetch(quiet=False)
    except Neo4jUnavailable as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"Neo4j jars in {target}")


@neo4j_app.command("start")
def neo4j_start(
    home: Neo4jHome = Path(".cache/neo4j/server"),
    port: Annotated[int, typer.Option(help="Bolt port on 127.0.0.1.")] = 7687,
    heap: Annotated[str, typer.Option(help="JVM heap (-Xmx).")] = "1g",
    page_cache_mb: Annotated[int, typer.Option(help="Page cache in MiB.")] = 512,
    detach: Annotated[
        bool, typer.Option(help="Return once it is up; stop it with neo4j stop.")
    ] = False,
) -> None:
    """Start Neo4j on bolt://127.0.0.1:PORT (auth off) for GOVERNANCE_LINEAGE__NEO4J_URI."""
    from lineage.neo4j_server import Neo4jServer, Neo4jUnavailable, detached

    running = detached(home)
    if running is not None:
        console.print(f"already running: pid {running[0]}, bolt://127.0.0.1:{running[1]}")
        return
    server = Neo4jServer(home, port, heap=heap, page_cache_mb=page_cache_mb)
    try:
        server.start()
    except Neo4jUnavailable as exc:
        err.print(f"[red]{exc}[/red]")
        server.kill()
        raise typer.Exit(1) from exc
    server.record()
    if detach:
        server.forget()
    console.print(f"Neo4j up on {server.uri} (store {home}, log {server.log})", soft_wrap=True)
    console.print(
        f"  export GOVERNANCE_LINEAGE__BACKEND=neo4j GOVERNANCE_LINEAGE__NEO4J_URI={server.uri}",
        soft_wrap=True,
    )
    if server.process is None:  # detached
        return
    console.print("Ctrl-C stops it.")
    try:
        assert server.process is not None
        server.process.wait()
    except KeyboardInterrupt:
        server.stop()
    finally:
        server.pidfile.unlink(missing_ok=True)


@neo4j_app.command("stop")
def neo4j_stop(home: Neo4jHome = Path(".cache/neo4j/server")) -> None:
    """Stop a server started with neo4j start --detach."""
    from lineage.neo4j_server import stop_detached

    if stop_detached(home):
        console.print("stopped")
    else:
        console.print(f"no Neo4j running from {home}")


# ---- lineage -------------------------------------------------------------------------------


@contextmanager
def _drain() -> Iterator[tuple[Settings, OutboxDrain]]:
    from governance.db import database_from_settings
    from lineage.outbox import OutboxDrain
    from lineage.service import build_store

    settings = _settings()
    db = database_from_settings(settings)
    store = build_store(settings, db)
    try:
        yield settings, OutboxDrain(db, store, batch_size=settings.lineage.drain_batch_size)
    finally:
        store.close()
        db.dispose()


@lineage_app.command("status")
def lineage_status() -> None:
    """Outbox depth, dead events and the last error of the lineage store."""
    with _drain() as (_, drain):
        status = drain.status()
    table = Table(show_header=False)
    for key, value in (
        ("backend", status.backend),
        ("waiting in the outbox", status.pending),
        ("dead (gave up)", status.dead),
        ("written to the graph", status.processed),
        ("last error", status.last_error or "-"),
    ):
        table.add_row(key, str(value))
    console.print(table)


@lineage_app.command("drain")
def lineage_drain(
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 600.0,
) -> None:
    """Write what waits in the outbox to the lineage store now (the service does it by itself)."""
    from governance.errors import Unavailable

    with _drain() as (settings, drain):
        setup_logging(settings.log_level)
        try:
            drain.store.setup()
        except Unavailable as exc:
            err.print(f"[red]{exc.detail}[/red]")
            raise typer.Exit(1) from exc
        done = drain.drain_all(timeout=timeout)
        status = drain.status()
    console.print(f"wrote {done} event(s); {status.pending} waiting, {status.dead} dead")
    if status.pending:
        err.print(f"[red]not drained:[/red] {status.last_error or 'timed out'}")
        raise typer.Exit(1)


@lineage_app.command("replay")
def lineage_replay() -> None:
    """Give dead outbox events another chance (after fixing what broke them)."""
    with _drain() as (_, drain):
        console.print(f"{drain.replay_dead()} dead event(s) queued again")


@pii_app.command("rebind")
def pii_rebind(
    url_env: Annotated[
        str,
        typer.Argument(
            help="Name of the environment variable holding the table's SQLAlchemy URL "
            "(never the URL itself: it may hold a password)."
        ),
    ],
    table: Annotated[str, typer.Option(help="Table holding legacy tokens.")],
    column: Annotated[str, typer.Option(help="Column holding them.")],
    key: Annotated[str, typer.Option(help="Column that identifies a row.")],
    dataset: Annotated[str, typer.Option(help="ns/name: the dataset tokens are bound to.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run/--apply", help="Count only (default), or rewrite.")
    ] = True,
) -> None:
    """Rewrite encryption tokens made before binding (enc_…) as tokens bound to their dataset
    and column (encb_…). See the README's migration notes."""
    import os

    import sqlalchemy as sa

    from governance.pdp.decision import DATASET_RE
    from governance.pii.keyring import KeyRingError, keyring_from_settings
    from governance.pii.operators import Protector
    from governance.pii.rebind import rebind

    settings = _settings()
    url = os.environ.get(url_env)
    if not url:
        err.print(f"[red]environment variable {url_env} is not set[/red]")
        raise typer.Exit(2)
    if not DATASET_RE.match(dataset):
        err.print(f"[red]--dataset must be ns/name, not {dataset!r}[/red]")
        raise typer.Exit(2)
    try:
        protector = Protector(keyring_from_settings(settings))
    except KeyRingError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    engine = sa.create_engine(url, hide_parameters=True)
    try:
        result = rebind(
            engine,
            table,
            column,
            key,
            dataset=dataset,
            protector=protector,
            apply=not dry_run,
        )
    except sa.exc.SQLAlchemyError as exc:
        err.print(f"[red]cannot rebind: {type(exc).__name__}: {str(exc)[:300]}[/red]")
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    verb = "would rebind" if dry_run else "rebound"
    done = result.legacy - result.unreadable if dry_run else result.rebound
    console.print(
        f"{result.legacy} legacy token(s) in {table}.{column}; {verb} {done}; "
        f"{result.unreadable} not made by this key ring; {result.changed_meanwhile} changed "
        "meanwhile"
    )
    if result.unreadable:
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
