"""Checks that a Casbin model can actually be evaluated, before it is allowed to serve.

Casbin loads a ``model.conf`` lazily: a matcher that does not parse, or a missing ``[matchers]``
section, loads without complaint and then fails every request with "model is undefined". Here
each section is required, the matcher is parsed the way Casbin parses it (``&&``, ``||`` and
``!`` rewritten, ``eval(...)`` standing for a rule's condition), every name it uses must be a
request or policy token or a function Casbin provides, and the effect must be one Casbin
supports. Each problem names the line of ``model.conf`` it is on.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from casbin.effect import get_effector

from governance.pdp.sources import Finding

# the functions pycasbin puts in a matcher's namespace (plus the role definitions g, g2 …)
CASBIN_FUNCTIONS = frozenset(
    {
        "keyMatch",
        "keyMatch2",
        "keyMatch3",
        "keyMatch4",
        "keyMatch5",
        "keyGet",
        "keyGet2",
        "regexMatch",
        "ipMatch",
        "globMatch",
        "eval",
    }
)
SECTIONS = (
    ("request_definition", "r"),
    ("policy_definition", "p"),
    ("policy_effect", "e"),
    ("matchers", "m"),
)
_EVAL = re.compile(r"\beval\(\s*[A-Za-z_][A-Za-z0-9_.]*\s*\)")


def _section_lines(text: str) -> tuple[dict[str, int], dict[str, int]]:
    """Line of each ``[section]`` header and of each ``key =`` definition (1-based)."""
    sections: dict[str, int] = {}
    keys: dict[str, int] = {}
    current = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip()
            sections.setdefault(current, number)
            continue
        key, sep, _ = line.partition("=")
        if sep and current:
            keys.setdefault(f"{current}.{key.strip()}", number)
    return sections, keys


def model_load_error(path: Path, display: str, exc: Exception) -> Finding:
    """Casbin refused to load the model or policy: say where in model.conf, when we can tell."""
    message = str(exc) or type(exc).__name__
    try:
        keys = _section_lines(path.read_text(encoding="utf-8"))[1]
    except (OSError, UnicodeDecodeError):
        keys = {}
    line = 0
    for word, key in (
        ("effect", "policy_effect.e"),
        ("matcher", "matchers.m"),
        ("request", "request_definition.r"),
        ("policy", "policy_definition.p"),
    ):
        if word in message.lower():
            line = keys.get(key, 0)
            break
    return Finding(display, line, "error", f"Casbin cannot load the policy: {message}")


def check_model(path: Path, display: str, model: Any) -> list[Finding]:
    """Every reason the loaded Casbin ``model`` (read from ``path``) cannot decide a request."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [Finding(display, 0, "error", f"cannot read: {exc}")]
    sections, keys = _section_lines(text)
    findings: list[Finding] = []
    present = set(model.keys())
    for section, key in SECTIONS:
        if key not in present or key not in model[key].keys() or not model[key][key].value:
            # where it is, or the end of the file, where it belongs
            line = keys.get(f"{section}.{key}") or sections.get(section) or len(text.splitlines())
            where = f"[{section}] with '{key} = ...'"
            findings.append(
                Finding(display, line, "error", f"the model needs {where}; Casbin cannot decide")
            )
    if findings:
        return findings
    r_tokens = set(model["r"]["r"].tokens)
    p_tokens = set(model["p"]["p"].tokens) | {"p_eft"}
    roles = set(model["g"].keys()) if "g" in present else set()
    effect_line = keys.get("policy_effect.e", sections.get("policy_effect", 0))
    try:
        get_effector(model["e"]["e"].value)
    except RuntimeError:
        findings.append(
            Finding(
                display,
                effect_line,
                "error",
                f"unsupported effect {model['e']['e'].value!r}",
            )
        )
    matcher = str(model["m"]["m"].value)
    line = keys.get("matchers.m", sections.get("matchers", 0))
    expression = _EVAL.sub("True", matcher)
    expression = expression.replace("&&", " and ").replace("||", " or ")
    expression = re.sub(r"!(?!=)", " not ", expression)
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        findings.append(Finding(display, line, "error", f"the matcher does not parse: {exc.msg}"))
        return findings
    called = {
        id(n.func)
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and id(node) in called:
            continue
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else None
            if name is None or (name not in CASBIN_FUNCTIONS and name not in roles):
                shown = name or ast.unparse(node.func)
                findings.append(
                    Finding(display, line, "error", f"the matcher calls unknown function {shown}")
                )
        elif isinstance(node, ast.Name):
            # Casbin stores the matcher with r.sub written r_sub (its escape_assertion)
            name = node.id
            if name.startswith(("r_", "p_")):
                if name not in r_tokens and name not in p_tokens:
                    shown = name.replace("_", ".", 1)
                    findings.append(
                        Finding(display, line, "error", f"the matcher uses {shown}, not defined")
                    )
            elif name not in CASBIN_FUNCTIONS and name not in roles:
                findings.append(
                    Finding(display, line, "error", f"the matcher names unknown {name!r}")
                )
    return sorted(set(findings))
