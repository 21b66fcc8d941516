"""Custom recognizers declared by stewards in ``policies/pii/*.yaml``, read without Presidio.

The format is Presidio's own YAML recognizer format (``recognizers:`` with ``name``,
``supported_language``, ``supported_entity``, ``patterns``, ``context``, ``deny_list``), plus
``validation`` (a checksum every match must pass), a top-level ``allow_list`` (values never
reported) and a top-level ``not_names`` (words NER must not report as a name, or as part of
one at its edges). Patterns are checked with the ``regex`` module, the one Presidio matches
with (it allows look-behinds of any width). Reading the specs does not import Presidio, so
``governance policy check`` stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import regex

from governance.pdp.sources import Finding, SourceError, line_of, load_yaml

CHECKSUMS = frozenset({"luhn", "mod97", "mod11"})


@dataclass(frozen=True)
class PatternSpec:
    name: str
    regex: str
    score: float


@dataclass(frozen=True)
class RecognizerSpec:
    name: str
    entity: str
    language: str
    patterns: tuple[PatternSpec, ...]
    context: tuple[str, ...]
    deny_list: tuple[str, ...]
    deny_list_score: float
    validation: str | None
    source: str
    line: int

    def presidio_dict(self) -> dict[str, Any]:
        """The dict Presidio's ``PatternRecognizer.from_dict`` accepts."""
        out: dict[str, Any] = {
            "name": self.name,
            "supported_entity": self.entity,
            "supported_language": self.language,
        }
        if self.patterns:
            out["patterns"] = [
                {"name": p.name, "regex": p.regex, "score": p.score} for p in self.patterns
            ]
        if self.context:
            out["context"] = list(self.context)
        if self.deny_list:
            out["deny_list"] = list(self.deny_list)
            out["deny_list_score"] = self.deny_list_score
        return out


@dataclass(frozen=True)
class RecognizerFile:
    recognizers: tuple[RecognizerSpec, ...]
    allow_list: tuple[str, ...]
    not_names: tuple[str, ...] = ()


def parse_recognizers(doc: Any, display: str) -> tuple[RecognizerFile, list[Finding]]:
    findings: list[Finding] = []
    specs: list[RecognizerSpec] = []
    if not isinstance(doc, dict):
        findings.append(Finding(display, line_of(doc), "error", "expected a mapping"))
        return RecognizerFile((), ()), findings
    for node in doc.get("recognizers") or []:
        line = line_of(node)
        if not isinstance(node, dict):
            findings.append(Finding(display, line, "error", "a recognizer must be a mapping"))
            continue
        name = str(node.get("name", ""))
        entity = node.get("supported_entity")
        if not name or not isinstance(entity, str) or not entity.isupper():
            findings.append(
                Finding(
                    display, line, "error", "a recognizer needs a name and an UPPER_CASE entity"
                )
            )
            continue
        patterns: list[PatternSpec] = []
        for pat in node.get("patterns") or []:
            try:
                source = str(pat["regex"])
                regex.compile(source)
                score = float(pat.get("score", 0.5))
                if not 0 <= score <= 1:
                    raise ValueError("score must be between 0 and 1")
                patterns.append(PatternSpec(str(pat.get("name", name)), source, score))
            except (KeyError, TypeError, ValueError, regex.error) as exc:
                findings.append(
                    Finding(display, line_of(pat) or line, "error", f"{name}: bad pattern: {exc}")
                )
        deny = tuple(str(v) for v in node.get("deny_list") or [])
        if not patterns and not deny:
            findings.append(Finding(display, line, "error", f"{name}: needs patterns or deny_list"))
        validation = node.get("validation")
        if validation is not None and validation not in CHECKSUMS:
            findings.append(
                Finding(
                    display,
                    line_of(node, "validation"),
                    "error",
                    f"{name}: validation must be one of {', '.join(sorted(CHECKSUMS))}",
                )
            )
            validation = None
        specs.append(
            RecognizerSpec(
                name=name,
                entity=entity,
                language=str(node.get("supported_language", "en")),
                patterns=tuple(patterns),
                context=tuple(str(c) for c in node.get("context") or []),
                deny_list=deny,
                deny_list_score=float(node.get("deny_list_score", 1.0)),
                validation=validation,
                source=display,
                line=line,
            )
        )
    allow = tuple(str(v) for v in doc.get("allow_list") or [])
    not_names: list[str] = []
    for word in doc.get("not_names") or []:
        if not isinstance(word, str) or not word.strip() or len(word.split()) != 1:
            findings.append(
                Finding(
                    display,
                    line_of(doc, "not_names"),
                    "error",
                    f"not_names: {word!r} is not one word",
                )
            )
            continue
        not_names.append(word.strip())
    return RecognizerFile(tuple(specs), allow, tuple(not_names)), findings


def load_recognizer_dir(
    directory: Path, display_root: Path
) -> tuple[list[RecognizerFile], list[Finding]]:
    files: list[RecognizerFile] = []
    findings: list[Finding] = []
    if not directory.is_dir():
        return files, findings
    for path in sorted(directory.glob("*.yaml")):
        display = str(path.relative_to(display_root))
        try:
            doc = load_yaml(path, display)
        except SourceError as exc:
            findings.append(exc.finding)
            continue
        parsed, problems = parse_recognizers(doc, display)
        files.append(parsed)
        findings.extend(problems)
    return files, findings
