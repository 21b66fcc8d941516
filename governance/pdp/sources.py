"""Policy source files read with line numbers, so every problem can be reported as file:line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from casbin.persist.adapter import _extract_tokens


@dataclass(frozen=True, order=True)
class Finding:
    """One problem in the policy files; ``error`` findings stop a policy from loading."""

    file: str
    line: int
    severity: Literal["error", "warning"]
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.severity}: {self.message}"


class LocatedDict(dict[str, Any]):
    """A YAML mapping that remembers its own line and each key's line (1-based)."""

    line: int = 0
    key_lines: dict[str, int]


class LocatedList(list[Any]):
    line: int = 0
    item_lines: list[int]


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LocatedDict:
    loader.flatten_mapping(node)
    out = LocatedDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, (list, dict)):
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a scalar", key_node.start_mark
            )
        if key in out:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[str(key)] = key_node.start_mark.line + 1
    return out


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> LocatedList:
    out = LocatedList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


_LineLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)
_LineLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG,
    _construct_sequence,
)


class SourceError(Exception):
    def __init__(self, finding: Finding) -> None:
        super().__init__(str(finding))
        self.finding = finding


def load_yaml(path: Path, display: str) -> Any:
    """Parse a YAML file; syntax errors become a ``SourceError`` with the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SourceError(Finding(display, 0, "error", f"cannot read: {exc.strerror}")) from exc
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        problem = exc.problem or exc.context or "invalid YAML"
        raise SourceError(Finding(display, line, "error", f"YAML: {problem}")) from exc
    except yaml.YAMLError as exc:
        raise SourceError(Finding(display, 0, "error", f"YAML: {exc}")) from exc


def line_of(node: Any, key: str | None = None) -> int:
    if isinstance(node, LocatedDict):
        if key is not None and key in node.key_lines:
            return node.key_lines[key]
        return node.line
    if isinstance(node, LocatedList):
        return node.line
    return 0


@dataclass(frozen=True)
class CsvLine:
    """One policy line as Casbin's file adapter splits it, with its 1-based line number."""

    line: int
    tokens: tuple[str, ...]
    text: str
    error: str | None = None


def read_policy_lines(path: Path) -> list[CsvLine]:
    """The non-comment lines of policy.csv, tokenized exactly like Casbin's file adapter."""
    out: list[CsvLine] = []
    for number, raw in enumerate(path.read_bytes().split(b"\n"), start=1):
        try:
            line = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            out.append(CsvLine(number, (), "", "not UTF-8 text"))
            continue
        try:
            tokens = _extract_tokens(line)
        except IndexError:
            out.append(CsvLine(number, (), line, "unbalanced brackets or parentheses"))
            continue
        if tokens is None:
            continue
        out.append(CsvLine(number, tuple(tokens), line))
    return out
