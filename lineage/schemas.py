"""The OpenLineage JSON schemas, compiled twice: a fast validator and the reference.

The reference is ``jsonschema``'s ``Draft202012Validator``: its verdicts define what ingest
accepts, and its errors carry the field paths we answer with. It takes about 0.6 ms per event
with column lineage (1,700 events/s on one core, the ingest's largest cost), so every check
first asks ``jsonschema-rs`` (about 8 µs per event); only when that rejects does the reference
run, to name the field (and to decide: a fast rejection the reference does not confirm is no
rejection). ``tests/unit/lineage/test_schema_differential.py`` holds the two to the same
verdicts over the spec's examples and generated mutations of them.

Two semantics of the reference are carried over to the fast copy, on purpose:
* formats: only those the reference ``FormatChecker`` checks (``uuid`` here; ``date-time`` and
  ``uri`` are not checked without optional packages) are checked, by the reference's own code;
* patterns: Python's ``$`` also matches before a final newline; a pattern ending in ``$`` gets
  ``\\n?$`` in the fast copy. A pattern we cannot translate leaves its schema reference-only.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import jsonschema_rs
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SCHEMA_DIR = Path(__file__).resolve().parent / "schema"
SPEC_ID = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
EVENT_KINDS = ("RunEvent", "DatasetEvent", "JobEvent")

_CATEGORY_SUFFIXES = (
    ("InputDatasetFacet", "inputFacets"),
    ("OutputDatasetFacet", "outputFacets"),
    ("DatasetFacet", "dataset"),
    ("JobFacet", "job"),
    ("RunFacet", "run"),
)
_NOT_SCHEMAS = frozenset({"enum", "const", "default", "example", "examples"})


class FastValidator:
    """A compiled validator that never raises: anything it cannot judge is 'not valid', which
    sends the instance to the reference."""

    __slots__ = ("_validator",)

    def __init__(self, validator: Any) -> None:
        self._validator = validator

    def is_valid(self, instance: Any) -> bool:
        try:
            return bool(self._validator.is_valid(instance))
        except Exception:  # e.g. a value that is not JSON (a datetime built in code)
            return False


@dataclass(frozen=True)
class Pair:
    """One schema as the reference and, when it could be compiled faithfully, the fast copy."""

    reference: Draft202012Validator
    fast: FastValidator | None

    def is_valid(self, instance: Any) -> bool:
        """The reference's verdict, asked of the fast validator first."""
        if self.fast is not None and self.fast.is_valid(instance):
            return True
        return bool(self.reference.is_valid(instance))


@dataclass(frozen=True)
class Schemas:
    events: dict[str, Pair]
    facets: dict[tuple[str, str], Pair]

    def facet(self, category: str, key: str) -> Pair | None:
        return self.facets.get((category, key)) or self.facets.get(("any", key))


class Check(NamedTuple):
    """Validate ``instance`` with ``schema``; errors are at ``where`` + the error's path."""

    where: tuple[str | int, ...]
    instance: Any
    schema: Pair


def _documents() -> dict[str, dict[str, Any]]:
    paths = [SCHEMA_DIR / "OpenLineage.json", *sorted((SCHEMA_DIR / "facets").glob("*.json"))]
    return {path.name: json.loads(path.read_text()) for path in paths}


def python_pattern(pattern: str) -> str | None:
    """``pattern`` for the fast (Rust, ECMA-like) engine with Python ``re.search``'s meaning,
    or None when we cannot be sure of the translation."""
    if "\\" in pattern or "|" in pattern or "(?" in pattern:
        return None
    if "$" not in pattern:
        return pattern
    if pattern.count("$") == 1 and pattern.endswith("$"):
        return pattern[:-1] + "\n?$"
    return None


def _translate(node: Any) -> tuple[Any, bool]:
    """A copy of a schema document for the fast validator; False if a pattern resisted."""
    faithful = True

    def walk(value: Any) -> Any:
        nonlocal faithful
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for key, child in value.items():
                if key == "pattern" and isinstance(child, str):
                    translated = python_pattern(child)
                    faithful = faithful and translated is not None
                    out[key] = translated if translated is not None else child
                elif key in _NOT_SCHEMAS:
                    out[key] = copy.deepcopy(child)
                else:
                    out[key] = walk(child)
            return out
        if isinstance(value, list):
            return [walk(child) for child in value]
        return value

    return walk(node), faithful


def _used_formats(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, child in node.items():
            if key == "format" and isinstance(child, str):
                yield child
            elif key not in _NOT_SCHEMAS:
                yield from _used_formats(child)
    elif isinstance(node, list):
        for child in node:
            yield from _used_formats(child)


def _fast_formats(
    checker: FormatChecker, documents: Mapping[str, Any]
) -> dict[str, Callable[[str], bool]]:
    """Every format the schemas name: the reference's own check where it has one, else none."""

    def checked(name: str) -> Callable[[str], bool]:
        return lambda value: checker.conforms(value, name)

    def unchecked(_value: str) -> bool:
        return True

    return {
        name: checked(name) if name in checker.checkers else unchecked
        for name in set(_used_formats(list(documents.values())))
    }


def _category(stem: str) -> str:
    # e.g. LineageFacet: a facet for several places, checked by its key ("any")
    return next((c for suffix, c in _CATEGORY_SUFFIXES if stem.endswith(suffix)), "any")


@lru_cache(maxsize=1)
def schemas() -> Schemas:
    """Both compilations of every shipped schema (once per process; nothing is fetched)."""
    documents = _documents()
    assert documents["OpenLineage.json"]["$id"] == SPEC_ID
    registry: Registry[Any] = Registry().with_resources(
        (doc["$id"], Resource.from_contents(doc, default_specification=DRAFT202012))
        for doc in documents.values()
    )
    checker = FormatChecker()
    translated = {name: _translate(doc) for name, doc in documents.items()}
    fast_registry = jsonschema_rs.Registry([(d["$id"], d) for d, _ in translated.values()])
    formats = _fast_formats(checker, documents)

    def pair(schema: dict[str, Any], fast_schema: dict[str, Any], faithful: bool) -> Pair:
        reference = Draft202012Validator(schema, registry=registry, format_checker=checker)
        if not faithful:
            return Pair(reference, None)
        fast = jsonschema_rs.Draft202012Validator(
            fast_schema,
            registry=fast_registry,
            formats=formats,
            validate_formats=True,
            offline=True,
        )
        return Pair(reference, FastValidator(fast))

    spec_faithful = translated["OpenLineage.json"][1]
    events = {}
    for kind in EVENT_KINDS:
        root = {"$ref": f"{SPEC_ID}#/$defs/{kind}"}
        events[kind] = pair(root, root, spec_faithful)
    facets: dict[tuple[str, str], Pair] = {}
    for name, doc in documents.items():
        if name == "OpenLineage.json":
            continue
        category = _category(name.removesuffix(".json"))
        fast_doc, faithful = translated[name]
        compiled = pair(doc, fast_doc, faithful and spec_faithful)
        for key in doc.get("properties", {}):
            facets[(category, key)] = compiled
    return Schemas(events, facets)


def facet_places(event: Mapping[str, Any]) -> Iterator[tuple[str, tuple[str | int, ...], Any]]:
    """(category, path, facets object) for every facets object in the event."""
    if isinstance(event.get("run"), dict):
        yield "run", ("run", "facets"), event["run"].get("facets")
    if isinstance(event.get("job"), dict):
        yield "job", ("job", "facets"), event["job"].get("facets")
    if isinstance(event.get("dataset"), dict):
        yield "dataset", ("dataset", "facets"), event["dataset"].get("facets")
    for side, extra in (("inputs", "inputFacets"), ("outputs", "outputFacets")):
        datasets = event.get(side)
        if not isinstance(datasets, list):  # the event's schema names that problem
            continue
        for i, ds in enumerate(datasets):
            if isinstance(ds, dict):
                yield "dataset", (side, i, "facets"), ds.get("facets")
                yield extra, (side, i, extra), ds.get(extra)


def checks(event: Mapping[str, Any], kind: str) -> Iterator[Check]:
    """Every schema check of an event: the event's own schema, then each facet with a schema
    (a facet marked ``_deleted`` is only a deletion and is not checked)."""
    compiled = schemas()
    yield Check((), event, compiled.events[kind])
    for category, where, facets in facet_places(event):
        if not isinstance(facets, dict):
            continue
        for key, value in facets.items():
            schema = compiled.facet(category, key)
            if schema is None or (isinstance(value, dict) and value.get("_deleted") is True):
                continue
            yield Check(where, {key: value}, schema)
