"""The compiled validator (jsonschema-rs) gives the reference's (jsonschema's) verdicts.

Ingest accepts an event when the fast validator accepts it, so a fast "valid" where the
reference says "invalid" would let a bad event in: every schema check is compared both ways,
over the spec's examples, the events the tests and the bench build, and hypothesis mutations of
them (deleted keys, values swapped for other JSON values of every type, UUIDs and times in odd
shapes, strings with a final newline, integers as floats, unknown keys). Values go through
orjson first, as a request body does. ``validate_event`` must then answer exactly what the
reference alone answers, messages and paths included.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.errors import FieldProblem
from lineage.events import _message, _semantic_problems, event_kind, validate_event
from lineage.schemas import checks, python_pattern, schemas
from tests.lineage_events import dataset, run_event
from tests.unit.lineage.test_events import EXAMPLES, RUN, place


def reference_problems(event: Any) -> list[FieldProblem]:
    """``validate_event`` as it was: the reference validator on every check."""
    kind = event_kind(event)
    if kind is None:
        return validate_event(event, ("body",))
    problems = [
        FieldProblem(("body", *where, *e.absolute_path), _message(e))
        for where, instance, schema in checks(event, kind)
        for e in schema.reference.iter_errors(instance)
    ]
    if not problems:
        problems = _semantic_problems(event, ("body",))
    return problems[:20]


def disagreements(event: Any) -> list[str]:
    """Checks where the fast verdict differs from the reference's (both directions)."""
    kind = event_kind(event)
    if kind is None:
        return []
    out = []
    for where, instance, schema in checks(event, kind):
        assert schema.fast is not None, f"{where}: no fast validator"
        fast = schema.fast.is_valid(instance)
        reference = schema.reference.is_valid(instance)
        if fast != reference:
            out.append(f"{where}: fast={fast} reference={reference}: {instance!r:.300}")
    return out


def spec_events() -> list[dict[str, Any]]:
    events = []
    for path in EXAMPLES:
        doc = json.loads(path.read_text())
        events.append(doc if "eventTime" in doc else place(path.name, doc))
    return events


def built_events() -> list[dict[str, Any]]:
    """Events as the tests and the bench build them: lineage, classifications, parents."""
    from bench.lineage_ingest import _event

    return [
        run_event(
            ("etl", "job"),
            RUN,
            "START",
            inputs=[dataset("crm", "customers", fields=["email", ("age", "int")])],
            outputs=[
                dataset(
                    "ml",
                    "features",
                    fields=["email_hash"],
                    lineage={"email_hash": [("crm", "customers", "email", {"type": "DIRECT"})]},
                    classifications={"email_hash": ["EMAIL_ADDRESS", "PERSON"]},
                    description="features",
                    dataset_type="TABLE",
                )
            ],
            job_description="a job",
            job_type="QUERY",
            parent="9b3a2f52-4c9f-4a8e-9bd2-5b0b2c1a7d11",
        ),
        _event(7, RUN, "COMPLETE", 3, 11, 12),
    ]


BASES = spec_events() + built_events()
COMPARED = {"events": 0, "checks": 0}


def compare(event: Any) -> None:
    try:
        event = orjson.loads(orjson.dumps(event))  # what a body can hold
    except (TypeError, orjson.JSONEncodeError):
        return
    COMPARED["events"] += 1
    kind = event_kind(event)
    COMPARED["checks"] += len(list(checks(event, kind))) if kind else 0
    assert disagreements(event) == []
    assert validate_event(event, ("body",)) == reference_problems(event)


def test_every_shipped_schema_compiles_fast() -> None:
    compiled = schemas()
    assert all(pair.fast is not None for pair in compiled.events.values())
    assert all(pair.fast is not None for pair in compiled.facets.values())


@pytest.mark.parametrize("event", BASES, ids=[*(p.name for p in EXAMPLES), "built", "bench"])
def test_examples_same_verdicts(event: dict[str, Any]) -> None:
    compare(event)
    assert validate_event(event) == []


def test_python_dollar_is_kept() -> None:
    """Python's ``$`` also matches before a final newline; the fast copy must agree."""
    assert python_pattern("^[A-Z][A-Z0-9_]*$") == "^[A-Z][A-Z0-9_]*\n?$"
    assert python_pattern(r"^\d+$") is None  # \d is Unicode in Python: left to the reference
    event = built_events()[0]
    pii = event["outputs"][0]["facets"]["governance_classification"]["fields"]["email_hash"][0]
    pii["piiType"] = "EMAIL_ADDRESS\n"
    compare(event)
    pii["piiType"] = "EMAIL_ADDRESS\n\n"
    compare(event)


@pytest.mark.parametrize(
    "run_id",
    [
        RUN.upper(),
        "{" + RUN + "}",
        "urn:uuid:" + RUN,
        RUN.replace("-", ""),
        RUN[:-1],
        RUN + "0",
        RUN.replace("-", "_"),
        "not-a-uuid",
        "",
        "3f5e83fa-3480-44ff-99c5-ff943904e5eg",
        "3f5e83fa-3480-44ff-99c5-ff943904e5e8\n",
    ],
)
def test_uuid_shapes(run_id: str) -> None:
    event = copy.deepcopy(built_events()[0])
    event["run"]["runId"] = run_id
    compare(event)


# ---- mutations ---------------------------------------------------------------------------------

ODD_VALUES = [
    None,
    True,
    False,
    0,
    1,
    -1,
    1.0,
    0.5,
    -0.0,
    2**63 - 1,
    -(2**63),
    2**64 - 1,
    1e300,
    "",
    "x",
    "EMAIL_ADDRESS",
    "email\n",
    "A\n",
    "DIRECT",
    "INDIRECT",
    "START",
    "2026-11-28T10:00:00Z",
    "2026-11-28T10:00:00",
    "not a date",
    "https://example.com/x",
    "not a uri",
    RUN,
    RUN.upper(),
    "{" + RUN + "}",
    [],
    {},
    [{}],
    {"_producer": "p", "_schemaURL": "s"},
    {"_deleted": True},
    ["a", 1],
]

json_leaf = st.one_of(
    st.sampled_from(ODD_VALUES).map(copy.deepcopy),  # never share a mutable value
    st.text(max_size=8),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _containers(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(node, dict):
        for key, child in node.items():
            if isinstance(child, (dict, list)):
                out.extend(_containers(child, (*path, key)))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            if isinstance(child, (dict, list)):
                out.extend(_containers(child, (*path, i)))
    return out


def _at(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    event = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 3))):
        target = _at(event, draw(st.sampled_from(_containers(event))))
        keys = list(target.keys() if isinstance(target, dict) else range(len(target)))
        action = draw(st.sampled_from(["replace", "delete", "add", "tweak"]))
        if action == "add" or not keys:
            if isinstance(target, dict):
                target[draw(st.sampled_from(["x", "_deleted", "name", "type", "fields"]))] = draw(
                    json_value
                )
            else:
                target.append(draw(json_value))
            continue
        key = draw(st.sampled_from(keys))
        if action == "delete":
            del target[key]
        elif action == "replace":
            target[key] = draw(json_value)
        else:  # small changes a schema may or may not notice
            value = target[key]
            if isinstance(value, str):
                target[key] = draw(
                    st.sampled_from([value + "\n", value.lower(), value.upper(), " " + value])
                )
            elif isinstance(value, bool):
                target[key] = int(value)
            elif isinstance(value, int):
                target[key] = float(value)
            elif isinstance(value, float) and value.is_integer():
                target[key] = int(value)
            elif isinstance(value, list) and value:
                target[key] = [*value, value[0]]
            else:
                target[key] = draw(json_value)
    return event


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutations_same_verdicts(event: Any) -> None:
    compare(event)


@pytest.mark.parametrize("value", [True, 1, {"a": {}}])
def test_inputs_that_are_not_an_array_are_problems_not_crashes(value: Any) -> None:
    """Found by the mutations: ``"inputs": true`` raised TypeError (a 500) before."""
    event = built_events()[0]
    event["inputs"] = value
    compare(event)
    assert validate_event(event)[0].loc == ("inputs",)


def test_report_how_many_were_compared() -> None:
    """Runs last in this module: the count is printed with ``-s``."""
    print(f"\ncompared {COMPARED['events']} events, {COMPARED['checks']} schema checks")
    assert COMPARED["events"] >= len(BASES)
