"""`policy check`: every kind of mistake a steward makes is reported as file:line: message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from governance.cli import app
from governance.pdp.bundle import analyse_policy_dir


def errors_of(directory: Path) -> list[str]:
    return [str(f) for f in analyse_policy_dir(directory).errors]


def append(path: Path, text: str) -> int:
    """Append lines; return the line number of the first one."""
    before = path.read_text()
    if not before.endswith("\n"):
        before += "\n"
    path.write_text(before + text)
    return before.count("\n") + 1


def replace(path: Path, old: str, new: str) -> int:
    text = path.read_text()
    assert old in text
    line = text[: text.index(old)].count("\n") + 1
    path.write_text(text.replace(old, new, 1))
    return line


def test_the_shipped_policy_is_clean(policy_dir: Path) -> None:
    analysis = analyse_policy_dir(policy_dir)
    assert analysis.bundle is not None
    assert analysis.findings == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "p, role:ghost, crm/customers, read, analytics, True, allow\n",
            "role role:ghost is referenced but never defined",
        ),
        (
            "p, role:marketing_analyst, group:nowhere, read, analytics, True, allow\n",
            "group group:nowhere is referenced but never defined",
        ),
        (
            "p, role:marketing_analyst, crm/customers, read, gossip, True, allow\n",
            "purpose gossip is not in purposes.yaml",
        ),
        (
            "p, role:marketing_analyst, crm/customers, read, analytics, r.ctx.region ==, allow\n",
            "condition does not parse",
        ),
        (
            "p, role:marketing_analyst, crm/customers, read, analytics, true, allow\n",
            "unknown name true (write True/False)",
        ),
        (
            "p, role:marketing_analyst, crm/customers, read, analytics, True, maybe\n",
            "effect must be allow or deny",
        ),
        (
            "p, role:marketing_analyst, crm/customers, read, analytics, allow\n",
            "a rule has 6 fields",
        ),
        ("p, alice, crm/customers, read, analytics, True, allow\n", "must look like user:NAME"),
        ("g, user:*, role:marketing_analyst\n", "patterns are not supported for subjects"),
        ("g2, crm/new_table, crm/*\n", "cannot be a pattern"),
        ("x, a, b\n", "unknown rule type 'x'"),
        ("p, role:x, (crm, read\n", "a rule has 6 fields"),
    ],
)
def test_policy_csv_mistakes(policy_dir: Path, text: str, message: str) -> None:
    line = append(policy_dir / "policy.csv", text)
    found = errors_of(policy_dir)
    assert any(f.startswith(f"policy.csv:{line}: error:") and message in f for f in found), found


def test_duplicates_are_errors(policy_dir: Path) -> None:
    original = "p, role:marketing_analyst, group:behavioural, read, analytics, True, allow"
    first = (policy_dir / "policy.csv").read_text().split("\n").index(original) + 1
    line = append(policy_dir / "policy.csv", original + "\n")
    assert f"policy.csv:{line}: error: duplicate of line {first}" in errors_of(policy_dir)


def test_a_rule_covered_by_a_broader_one_is_shadowed(policy_dir: Path) -> None:
    # role:data_scientist may already read group:behavioural for every purpose
    line = append(
        policy_dir / "policy.csv", "p, user:bob, app/events, read, analytics, True, allow\n"
    )
    found = errors_of(policy_dir)
    assert any(f.startswith(f"policy.csv:{line}: error: shadowed: line ") for f in found), found


def test_an_allow_under_an_unconditional_deny_is_shadowed(policy_dir: Path) -> None:
    line = append(
        policy_dir / "policy.csv",
        "p, role:data_scientist, webshop/payments, read, model_training, True, allow\n",
    )
    found = errors_of(policy_dir)
    assert any(
        f.startswith(f"policy.csv:{line}: error: shadowed: the deny on line") for f in found
    ), found


def test_a_conditional_rule_does_not_shadow(policy_dir: Path) -> None:
    append(
        policy_dir / "policy.csv",
        'p, role:support_agent, crm/customers, read, customer_support, r.ctx.channel == "store", allow\n',
    )
    assert not any("shadowed" in f for f in errors_of(policy_dir))


def test_obligations_with_unknown_pii_type(policy_dir: Path) -> None:
    line = replace(
        policy_dir / "obligations.yaml", "      PHONE_NUMBER: drop\n", "      PHONE_NUMER: drop\n"
    )
    assert any(
        f.startswith(f"obligations.yaml:{line}: error:") and "unknown PII type PHONE_NUMER" in f
        for f in errors_of(policy_dir)
    )


def test_obligations_with_unknown_role(policy_dir: Path) -> None:
    line = replace(
        policy_dir / "obligations.yaml",
        "    roles: [role:support_lead]",
        "    roles: [role:support_leed]",
    )
    assert any(
        f.startswith(
            f"obligations.yaml:{line}: error: role role:support_leed is referenced but never defined"
        )
        for f in errors_of(policy_dir)
    )


def test_custom_pii_types_are_known(policy_dir: Path) -> None:
    replace(
        policy_dir / "obligations.yaml",
        '      PHONE_NUMBER: keep\n      "*": drop\n',
        '      PHONE_NUMBER: keep\n      LOYALTY_CARD: drop\n      ORDER_NUMBER: drop\n      "*": drop\n',
    )
    assert errors_of(policy_dir) == []


def test_duplicate_yaml_keys_are_errors(policy_dir: Path) -> None:
    line = replace(
        policy_dir / "obligations.yaml",
        "      PHONE_NUMBER: drop\n",
        "      PHONE_NUMBER: drop\n      EMAIL_ADDRESS: keep\n",
    )
    found = errors_of(policy_dir)
    assert found == [f"obligations.yaml:{line + 1}: error: YAML: duplicate key 'EMAIL_ADDRESS'"], (
        found
    )


def test_yaml_syntax_errors_have_lines(policy_dir: Path) -> None:
    line = replace(
        policy_dir / "catalog.yaml", "      full_name: PERSON\n", "      full_name: [PERSON\n"
    )
    found = errors_of(policy_dir)
    assert any(re.match(rf"catalog\.yaml:{line + 1}: error: YAML", f) for f in found), found


def test_catalog_unknown_pii_type(policy_dir: Path) -> None:
    line = replace(
        policy_dir / "catalog.yaml", "      email: EMAIL_ADDRESS\n", "      email: E_MAIL\n"
    )
    assert f"catalog.yaml:{line}: error: crm/customers.email: unknown PII type E_MAIL" in errors_of(
        policy_dir
    )


def test_recognizer_with_bad_regex(policy_dir: Path) -> None:
    replace(
        policy_dir / "pii" / "retail.yaml", 'regex: "\\\\bCU\\\\d{8}\\\\b"', 'regex: "CU(\\\\d{8}"'
    )
    assert any(
        f.startswith("pii/retail.yaml:") and "bad pattern" in f for f in errors_of(policy_dir)
    )


def test_missing_file(policy_dir: Path) -> None:
    (policy_dir / "purposes.yaml").unlink()
    assert "purposes.yaml:0: error: required policy file is missing" in errors_of(policy_dir)


def test_cli_check_exit_codes(policy_dir: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["policy", "check", "--dir", str(policy_dir)])
    assert ok.exit_code == 0, ok.output
    assert "policy OK" in ok.output
    line = append(
        policy_dir / "policy.csv", "p, role:ghost, crm/customers, read, analytics, True, allow\n"
    )
    bad = runner.invoke(app, ["policy", "check", "--dir", str(policy_dir)])
    assert bad.exit_code == 1
    assert (
        f"policy.csv:{line}: error: role role:ghost is referenced but never defined" in bad.output
    )


def test_cli_policy_test_runs_the_cases(policy_dir: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["policy", "test", "--dir", str(policy_dir)])
    assert result.exit_code == 0, result.output
    assert " 0 failed" in result.output
    # break one rule: a case must now fail and the command must say so
    replace(
        policy_dir / "obligations.yaml",
        "      EMAIL_ADDRESS: hash\n",
        "      EMAIL_ADDRESS: keep\n",
    )
    broken = runner.invoke(app, ["policy", "test", "--dir", str(policy_dir)])
    assert broken.exit_code == 1
    assert "FAIL" in broken.output
