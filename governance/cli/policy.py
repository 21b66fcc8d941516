"""``governance policy``: lint and test the stewards' files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from governance.cli.common import console, err, load_settings
from governance.errors import GovernanceError

app = typer.Typer(help="Policy files: lint and test.", no_args_is_help=True)

PolicyDir = Annotated[
    Path | None,
    typer.Option("--dir", help="Policy directory (default: GOVERNANCE_POLICY_DIR or policies/)."),
]


@app.command("check")
def policy_check(directory: PolicyDir = None) -> None:
    """Lint the policy files and run their test cases, exactly as a reload judges them; print
    file:line: message and exit non-zero on any error."""
    from governance.pdp.bundle import analyse_policy_dir
    from governance.pdp.engine import policy_test_failures

    folder = directory or load_settings().policy_dir
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


@app.command("test")
def policy_test(directory: PolicyDir = None) -> None:
    """Run the policy test cases in <dir>/tests and print a pass/fail table."""
    from governance.pdp.engine import PolicyDecisionPoint
    from governance.pdp.policytests import run_cases

    folder = directory or load_settings().policy_dir
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
