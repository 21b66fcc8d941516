"""OpenLineage events in: validation against the shipped JSON schemas, then plain values.

The event itself is checked against ``OpenLineage.json`` (RunEvent, DatasetEvent or JobEvent,
chosen by its keys so that errors are specific), then every facet whose schema ships in
``lineage/schema/facets`` is checked against that schema, for its place in the event (run, job,
dataset, input or output facets). Each problem carries the path of the field, e.g.
``outputs[0].facets.columnLineage.fields.email.inputFields[0].name``. Nothing is fetched.
A compiled validator answers first; the reference (``jsonschema``) decides every rejection and
names its fields (``lineage/schemas.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from jsonschema.exceptions import ValidationError

from governance.errors import FieldProblem
from governance.timestamps import parse_instant
from lineage.schemas import checks

MAX_PROBLEMS = 20

STRUCTURAL_FACETS = frozenset({"schema", "columnLineage"})
"""Facets the graph holds as structure (fields, DERIVED_FROM) rather than as attributes."""

RUN_STATES = {
    "START": "RUNNING",
    "RUNNING": "RUNNING",
    "COMPLETE": "COMPLETED",
    "FAIL": "FAILED",
    "ABORT": "ABORTED",
}
STATE_RANK = {"NEW": 0, "RUNNING": 1, "COMPLETED": 2, "FAILED": 2, "ABORTED": 2}
"""Terminal states outrank RUNNING, so a late START never reopens a finished run."""


def _message(error: ValidationError) -> str:
    text = str(error.message)
    return text if len(text) <= 200 else text[:197] + "..."


def event_kind(event: Any) -> str | None:
    if not isinstance(event, dict):
        return None
    if "run" in event:
        return "RunEvent"
    if "dataset" in event:
        return "DatasetEvent"
    if "job" in event:
        return "JobEvent"
    return None


def validate_event(event: Any, prefix: tuple[str | int, ...] = ()) -> list[FieldProblem]:
    """Every problem with ``event`` (empty when it is a valid OpenLineage event)."""
    kind = event_kind(event)
    if kind is None:
        return [
            FieldProblem(
                prefix or ("body",),
                "not an OpenLineage event: a RunEvent has run and job, a DatasetEvent has "
                "dataset, a JobEvent has job",
            )
        ]
    problems: list[FieldProblem] = []
    for where, instance, schema in checks(event, kind):
        if schema.fast is not None and schema.fast.is_valid(instance):
            continue
        # rejected (or not compiled fast): the reference decides and names the fields
        problems.extend(
            FieldProblem((*prefix, *where, *e.absolute_path), _message(e))
            for e in schema.reference.iter_errors(instance)
        )
    if not problems:
        problems.extend(_semantic_problems(event, prefix))
    return problems[:MAX_PROBLEMS]


def _semantic_problems(event: dict[str, Any], prefix: tuple[str | int, ...]) -> list[FieldProblem]:
    """What the JSON schema cannot say: times must parse."""
    try:
        parse_time(event["eventTime"])
    except (KeyError, ValueError):
        return [
            FieldProblem((*prefix, "eventTime"), "must be an ISO 8601 date-time with an offset")
        ]
    return []


def parse_time(text: str) -> datetime:
    return parse_instant(text)


# ---- parsed values -----------------------------------------------------------------------------


SEP = "\x1f"
"""Separator of key parts: never part of a namespace, name or field."""


def dataset_key(namespace: str, name: str) -> str:
    return f"{namespace}{SEP}{name}"


def field_key(namespace: str, dataset: str, name: str) -> str:
    return f"{namespace}{SEP}{dataset}{SEP}{name}"


def job_key(namespace: str, name: str) -> str:
    return f"{namespace}{SEP}{name}"


@dataclass(frozen=True)
class FieldInfo:
    name: str
    type: str | None = None
    description: str | None = None


class FieldLineage(NamedTuple):
    """``output`` field derives from ``namespace/dataset.field`` (a tuple: parsed by the million)."""

    output: str
    namespace: str
    dataset: str
    field: str
    type: str = ""
    subtype: str = ""
    description: str = ""
    masking: bool = False

    @property
    def carries_values(self) -> bool:
        """DIRECT transformations carry values; INDIRECT (join, filter …) only influence."""
        return self.type != "INDIRECT"


@dataclass(frozen=True)
class Classification:
    field: str
    pii_type: str
    confidence: float = 1.0
    source: str = "producer"


@dataclass(frozen=True)
class DatasetInfo:
    namespace: str
    name: str
    fields: tuple[FieldInfo, ...] = ()
    description: str | None = None
    source_name: str | None = None
    dataset_type: str | None = None
    lineage: tuple[FieldLineage, ...] = ()
    classifications: tuple[Classification, ...] = ()
    facets: Mapping[str, Any] = field(default_factory=dict)
    schema: tuple[FieldInfo, ...] | None = None
    """The schema facet's fields, when the event carried one (``fields`` adds lineage-only ones)."""

    @property
    def key(self) -> str:
        return dataset_key(self.namespace, self.name)

    @property
    def stored_facets(self) -> dict[str, Any]:
        """Facets kept as the dataset's attributes; schema and column lineage become structure."""
        return {k: v for k, v in self.facets.items() if k not in STRUCTURAL_FACETS}


@dataclass(frozen=True)
class LineageEvent:
    kind: str  # RunEvent | DatasetEvent | JobEvent
    event_time: datetime
    event_type: str | None = None
    run_id: str | None = None
    parent_run_id: str | None = None
    job_namespace: str | None = None
    job_name: str | None = None
    job_type: str | None = None
    job_description: str | None = None
    job_facets: Mapping[str, Any] = field(default_factory=dict)
    run_facets: Mapping[str, Any] = field(default_factory=dict)
    inputs: tuple[DatasetInfo, ...] = ()
    outputs: tuple[DatasetInfo, ...] = ()
    datasets: tuple[DatasetInfo, ...] = ()  # DatasetEvent
    producer: str = ""

    @property
    def job_key(self) -> str | None:
        if self.job_namespace is None or self.job_name is None:
            return None
        return job_key(self.job_namespace, self.job_name)

    @property
    def state(self) -> str | None:
        return RUN_STATES.get(self.event_type or "")


def _live(facets: Any) -> dict[str, Any]:
    if not isinstance(facets, dict):
        return {}
    return {k: v for k, v in facets.items() if not (isinstance(v, dict) and v.get("_deleted"))}


def _schema_fields(items: Any, prefix: str = "") -> list[FieldInfo]:
    out: list[FieldInfo] = []
    for item in items or []:
        name = f"{prefix}{item['name']}"
        out.append(FieldInfo(name, item.get("type"), item.get("description")))
        if item.get("fields"):
            out.extend(_schema_fields(item["fields"], name + "."))
    return out


_NO_TRANSFORMATION: tuple[dict[str, Any], ...] = ({},)


def _lineage(output_facets: dict[str, Any]) -> list[FieldLineage]:
    facet = output_facets.get("columnLineage")
    if not isinstance(facet, dict):
        return []
    out: list[FieldLineage] = []
    append = out.append
    for out_field, spec in (facet.get("fields") or {}).items():
        legacy_type = spec.get("transformationType") or ""
        legacy_masked = legacy_type.upper() == "MASKED" if isinstance(legacy_type, str) else False
        legacy_description = spec.get("transformationDescription") or ""
        for inp in spec.get("inputFields") or ():
            ns, ds, fld = inp["namespace"], inp["name"], inp["field"]
            for t in inp.get("transformations") or _NO_TRANSFORMATION:
                kind = t.get("type")
                subtype = t.get("subtype", legacy_type)
                append(
                    FieldLineage(
                        out_field,
                        ns,
                        ds,
                        fld,
                        kind.upper() if kind else "",
                        subtype.upper() if subtype else "",
                        str(t.get("description", legacy_description) or ""),
                        bool(t.get("masking")) or legacy_masked,
                    )
                )
    return out


def _classifications(facets: dict[str, Any]) -> list[Classification]:
    facet = facets.get("governance_classification")
    if not isinstance(facet, dict):
        return []
    out = []
    for column, entries in (facet.get("fields") or {}).items():
        for entry in entries:
            out.append(
                Classification(
                    field=column,
                    pii_type=entry["piiType"],
                    confidence=float(entry.get("confidence", 1.0)),
                    source=str(entry.get("source", "producer")),
                )
            )
    return out


def classifications_in(raw_facets: Any) -> list[Classification]:
    """The ``governance_classification`` entries of a dataset's facets as an event carries them
    (a facet marked ``_deleted`` says nothing)."""
    return _classifications(_live(raw_facets))


def _dataset(raw: dict[str, Any], extra_facets: str | None = None) -> DatasetInfo:
    facets = _live(raw.get("facets"))
    schema = facets.get("schema") or {}
    documentation = facets.get("documentation") or {}
    source = facets.get("dataSource") or {}
    dataset_type = (facets.get("datasetType") or {}).get("datasetType")
    lineage = _lineage(facets)
    fields = _schema_fields(schema.get("fields"))
    schema_fields = tuple(fields) if "schema" in facets else None
    known = {f.name for f in fields}
    # columns named by column lineage exist even without a schema facet
    for item in lineage:
        if item.output not in known:
            fields.append(FieldInfo(item.output))
            known.add(item.output)
    return DatasetInfo(
        namespace=raw["namespace"],
        name=raw["name"],
        fields=tuple(fields),
        description=documentation.get("description"),
        source_name=source.get("name") or source.get("uri"),
        dataset_type=dataset_type,
        lineage=tuple(lineage),
        classifications=tuple(_classifications(facets)),
        facets=facets,
        schema=schema_fields,
    )


def parse_event(event: dict[str, Any]) -> LineageEvent:
    """Plain values of a valid event (``validate_event`` first)."""
    kind = event_kind(event)
    time = parse_time(event["eventTime"])
    producer = str(event.get("producer", ""))
    if kind == "DatasetEvent":
        return LineageEvent(
            kind="DatasetEvent",
            event_time=time,
            datasets=(_dataset(event["dataset"]),),
            producer=producer,
        )
    job = event["job"]
    job_facets = _live(job.get("facets"))
    job_type = (job_facets.get("jobType") or {}).get("jobType")
    description = (job_facets.get("documentation") or {}).get("description")
    inputs = tuple(_dataset(d) for d in event.get("inputs") or [])
    outputs = tuple(_dataset(d) for d in event.get("outputs") or [])
    if kind == "JobEvent":
        return LineageEvent(
            kind="JobEvent",
            event_time=time,
            job_namespace=job["namespace"],
            job_name=job["name"],
            job_type=job_type,
            job_description=description,
            job_facets=job_facets,
            inputs=inputs,
            outputs=outputs,
            producer=producer,
        )
    run = event["run"]
    run_facets = _live(run.get("facets"))
    parent = (run_facets.get("parent") or {}).get("run") or {}
    return LineageEvent(
        kind="RunEvent",
        event_time=time,
        event_type=event.get("eventType"),
        run_id=str(run["runId"]).lower(),
        parent_run_id=str(parent["runId"]).lower() if parent.get("runId") else None,
        job_namespace=job["namespace"],
        job_name=job["name"],
        job_type=job_type,
        job_description=description,
        job_facets=job_facets,
        run_facets=run_facets,
        inputs=inputs,
        outputs=outputs,
        producer=producer,
    )
