"""Hot reload cannot fail open: half-written files, ConfigMap swaps, untested edits, bad models."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from governance.cli import app
from governance.errors import InvalidPolicy
from governance.pdp import bundle as bundle_module
from governance.pdp.decision import AccessRequest, Effect
from governance.pdp.engine import PolicyDecisionPoint

# policy.csv allows analysts to read customer profiles for analytics (line 54), and a later
# explicit deny takes EU residents' data out of reach outside the EU (line 97)
DENIED = AccessRequest.model_validate(
    {
        "subject": {"id": "user:alice"},
        "action": "read",
        "resource": {"dataset": "crm/customers"},
        "purpose": "analytics",
        "context": {"region": "US"},
    }
)


def _first_half(policy_csv: Path) -> str:
    """Everything before the first explicit deny rule: what a two-step write leaves at first."""
    lines = policy_csv.read_text().splitlines(keepends=True)
    cut = next(i for i, line in enumerate(lines) if line.startswith("p,") and "deny" in line)
    return "".join(lines[:cut])


def test_the_first_half_of_a_policy_would_allow_what_the_whole_denies(policy_dir: Path) -> None:
    """The premise of the tests below: serving the half file is a fail-open."""
    whole = PolicyDecisionPoint.from_directory(policy_dir, run_tests=False)
    assert whole.decide(DENIED).decision is Effect.deny
    (policy_dir / "policy.csv").write_text(_first_half(policy_dir / "policy.csv"))
    half = PolicyDecisionPoint.from_directory(policy_dir, run_tests=False)
    assert half.decide(DENIED).decision is Effect.allow


def test_a_half_written_file_waits_for_the_settle_interval(policy_dir: Path) -> None:
    pdp = PolicyDecisionPoint.from_directory(policy_dir)
    (policy_dir / "policy.csv").write_text(_first_half(policy_dir / "policy.csv"))
    # seen at t=0: nothing is read until the file has stayed unchanged for the interval
    assert pdp.check_for_changes(2.0, now=100.0) is None
    assert pdp.check_for_changes(2.0, now=101.0) is None
    assert pdp.decide(DENIED).decision is Effect.deny
    assert pdp.status().last_rejection is None


def test_a_settled_half_file_is_rejected_by_the_stewards_tests(policy_dir: Path) -> None:
    pdp = PolicyDecisionPoint.from_directory(policy_dir)
    version = pdp.version
    original = (policy_dir / "policy.csv").read_text()
    (policy_dir / "policy.csv").write_text(_first_half(policy_dir / "policy.csv"))
    assert pdp.check_for_changes(2.0, now=100.0) is None
    result = pdp.check_for_changes(2.0, now=102.5)
    assert result is not None
    assert not result.accepted
    assert any("policy test" in e for e in result.errors)
    assert pdp.version == version
    assert pdp.decide(DENIED).decision is Effect.deny
    rejection = pdp.status().last_rejection
    assert rejection is not None
    assert rejection.errors
    # the second half arrives: the files are whole again and the rejection is cleared
    (policy_dir / "policy.csv").write_text(original)
    pdp.check_for_changes(2.0, now=200.0)
    assert pdp.check_for_changes(2.0, now=203.0) is not None
    assert pdp.status().last_rejection is None
    assert pdp.version == version


def test_a_change_during_the_settle_interval_restarts_it(policy_dir: Path) -> None:
    pdp = PolicyDecisionPoint.from_directory(policy_dir)
    purposes = policy_dir / "purposes.yaml"
    purposes.write_text(purposes.read_text() + "  research:\n")
    assert pdp.check_for_changes(2.0, now=10.0) is None
    purposes.write_text(
        purposes.read_text() + "    lawful_basis: consent\n    retention_days: 30\n"
    )
    assert pdp.check_for_changes(2.0, now=11.5) is None  # changed again: the clock restarts
    assert pdp.check_for_changes(2.0, now=13.0) is None
    result = pdp.check_for_changes(2.0, now=13.6)
    assert result is not None
    assert result.changed
    assert "research" in pdp.bundle.purposes


def test_a_torn_read_is_never_served(policy_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file that changes while a load reads it: the load is discarded and retried later."""
    pdp = PolicyDecisionPoint.from_directory(policy_dir)
    version = pdp.version
    real = bundle_module.analyse_policy_dir
    policy_csv = policy_dir / "policy.csv"
    whole = policy_csv.read_text()
    policy_csv.write_text(_first_half(policy_csv))

    def analyse_while_the_rest_arrives(directory: Path, **kwargs: object) -> object:
        result = real(directory, **kwargs)  # type: ignore[arg-type]
        policy_csv.write_text(whole + "# a trailing comment\n")
        return result

    monkeypatch.setattr("governance.pdp.engine.analyse_policy_dir", analyse_while_the_rest_arrives)
    result = pdp.reload()
    assert not result.accepted
    assert pdp.version == version
    assert pdp.status().last_rejection is None  # not a verdict on the files, just a retry
    monkeypatch.setattr("governance.pdp.engine.analyse_policy_dir", real)
    assert pdp.check_for_changes().accepted  # type: ignore[union-attr]
    assert pdp.decide(DENIED).decision is Effect.deny


def _configmap(root: Path, source: Path, name: str) -> Path:
    """A Kubernetes ConfigMap volume: versions in ..<name>, ..data -> it, files via ..data."""
    version = root / f"..{name}"
    shutil.copytree(source, version)
    return version


def _swap(root: Path, name: str) -> None:
    tmp = root / "..data_tmp"
    tmp.symlink_to(f"..{name}")
    os.replace(tmp, root / "..data")  # one rename: every reader sees old or new, never both


def test_configmap_style_data_swaps_are_followed(policy_dir: Path, tmp_path: Path) -> None:
    mount = tmp_path / "mount"
    mount.mkdir()
    _configmap(mount, policy_dir, "v1")
    _swap(mount, "v1")
    for entry in ("model.conf", "policy.csv", "obligations.yaml", "purposes.yaml", "catalog.yaml"):
        (mount / entry).symlink_to(f"..data/{entry}")
    (mount / "tests").symlink_to("..data/tests")
    (mount / "pii").symlink_to("..data/pii")
    pdp = PolicyDecisionPoint.from_directory(mount)
    first = pdp.version
    assert pdp.status().directory == str(mount)

    v2 = _configmap(mount, policy_dir, "v2")
    with (v2 / "purposes.yaml").open("a") as f:
        f.write("  research:\n    lawful_basis: consent\n    retention_days: 30\n")
    assert pdp.check_for_changes() is None  # written, not yet published
    _swap(mount, "v2")
    result = pdp.check_for_changes()
    assert result is not None
    assert result.changed
    assert pdp.version != first
    assert "research" in pdp.bundle.purposes
    assert pdp.bundle.directory == v2.resolve()


def test_start_up_refuses_a_policy_whose_tests_fail(policy_dir: Path) -> None:
    (policy_dir / "policy.csv").write_text(_first_half(policy_dir / "policy.csv"))
    with pytest.raises(InvalidPolicy, match="policy tests fail"):
        PolicyDecisionPoint.from_directory(policy_dir)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("m = g(r.sub, p.sub)", "m = g(r.sub, p.sub) &&& "), "does not parse"),
        (lambda t: t[: t.index("[matchers]")], "needs [matchers]"),
        (lambda t: t.replace("eval(p.cond)", "eval(p.cond) && nope(r.sub)"), "unknown function"),
        (lambda t: t.replace("r.act == p.act", "r.action == p.act"), "r.action, not defined"),
        (
            lambda t: t.replace(
                "e = some(where (p.eft == allow)) && !some(where (p.eft == deny))",
                "e = most(where (p.eft == allow))",
            ),
            "unsupported effect",
        ),
    ],
)
def test_a_model_casbin_cannot_evaluate_is_an_error_with_its_line(
    policy_dir: Path, edit: object, message: str
) -> None:
    model = policy_dir / "model.conf"
    model.write_text(edit(model.read_text()))  # type: ignore[operator]
    result = CliRunner().invoke(app, ["policy", "check", "--dir", str(policy_dir)])
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert re.search(r"model\.conf:[1-9]\d*: error", result.output), result.output
    with pytest.raises(InvalidPolicy):
        PolicyDecisionPoint.from_directory(policy_dir)


def test_a_reload_rejects_a_broken_model_and_keeps_serving(policy_dir: Path) -> None:
    pdp = PolicyDecisionPoint.from_directory(policy_dir)
    model = policy_dir / "model.conf"
    good = model.read_text()
    model.write_text(good[: good.index("[matchers]")])
    result = pdp.reload()
    assert not result.accepted
    assert any("model.conf:" in e and "[matchers]" in e for e in result.errors)
    assert pdp.decide(DENIED).decision is Effect.deny
    model.write_text(good)
    assert pdp.reload().accepted
    assert pdp.status().last_rejection is None
