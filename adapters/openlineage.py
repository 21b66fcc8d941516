"""Report a pipeline step to the lineage graph with the real ``openlineage-python`` client.

``LineageEmitter.run`` is a context manager around one run of a job: START on entry, COMPLETE
on a clean exit, FAIL (with the error message facet) when the body raises. Inputs and outputs
carry schema facets, and outputs a ``columnLineage`` facet built from a plain mapping::

    emitter = LineageEmitter.http("http://127.0.0.1:8000", api_key, namespace="ml")
    with emitter.run(
        "churn.build_features",
        inputs=[Dataset("crm", "customers", ["customer_id", "email", "full_name"])],
        outputs=[Dataset("ml", "churn_features", ["customer_token", "email_hash"])],
        column_lineage={
            ("ml", "churn_features", "customer_token"): [("crm", "customers", "customer_id", "pseudonymize")],
            ("ml", "churn_features", "email_hash"): [("crm", "customers", "email", "hash")],
        },
    ):
        ...

The transformation names are the obligation actions. ``keep`` is an IDENTITY; ``mask``,
``hash``, ``pseudonymize``, ``encrypt``, ``redact`` are marked ``masking: true`` in the facet,
which is what stops PII classifications from propagating downstream in the lineage graph
(``encrypt`` too: whoever reads the output cannot read the value without a reidentify
decision).
"""

from __future__ import annotations

import traceback
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import attr
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.generated.base import DatasetFacet
from openlineage.client.generated.column_lineage_dataset import (
    ColumnLineageDatasetFacet,
    Fields,
    InputField,
    Transformation,
)
from openlineage.client.generated.dataset_type_dataset import DatasetTypeDatasetFacet
from openlineage.client.generated.error_message_run import ErrorMessageRunFacet
from openlineage.client.generated.schema_dataset import SchemaDatasetFacet, SchemaDatasetFacetFields
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport

from governance.decisions import FACETS_BASE

PRODUCER = "https://github.com/omnishop-data/governance/adapters"
MASKING = {"mask", "hash", "pseudonymize", "encrypt", "redact"}

FieldRef = tuple[str, str, str]  # namespace, dataset name, field
Source = tuple[str, str, str, str]  # namespace, dataset name, field, transformation


@attr.define
class GovernanceClassificationDatasetFacet(DatasetFacet):
    """PII types of a dataset's fields, as the producer knows them (``source: producer``).
    Schema: ``lineage/schema/facets/GovernanceClassificationDatasetFacet.json``."""

    fields: dict[str, list[dict[str, Any]]] = attr.field(factory=dict)

    @staticmethod
    def _get_schema() -> str:
        return f"{FACETS_BASE}/GovernanceClassificationDatasetFacet.json"


@dataclass(frozen=True)
class Dataset:
    namespace: str
    name: str
    fields: Sequence[str] = ()
    types: Mapping[str, str] = field(default_factory=dict)
    # field -> PII types: attached as the governance_classification facet, they propagate
    # downstream along column lineage in the graph
    classifications: Mapping[str, Sequence[str]] = field(default_factory=dict)
    dataset_type: str | None = None  # "MODEL" for a trained model: impact queries list it

    def schema(self) -> dict[str, Any]:
        facets: dict[str, Any] = {}
        if self.dataset_type:
            facets["datasetType"] = DatasetTypeDatasetFacet(datasetType=self.dataset_type)
        if self.fields:
            facets["schema"] = SchemaDatasetFacet(
                fields=[
                    SchemaDatasetFacetFields(name=f, type=self.types.get(f, "STRING"))
                    for f in self.fields
                ]
            )
        if self.classifications:
            facets["governance_classification"] = GovernanceClassificationDatasetFacet(
                fields={
                    f: [{"piiType": t, "source": "producer"} for t in types]
                    for f, types in self.classifications.items()
                }
            )
        return facets


def transformation(action: str) -> Transformation:
    """An obligation's action (or ``aggregate``: a count or sum of the field) as OpenLineage's
    transformation of a column-lineage input."""
    if action == "keep":
        return Transformation(type="DIRECT", subtype="IDENTITY", masking=False)
    if action == "aggregate":
        return Transformation(type="DIRECT", subtype="AGGREGATION", masking=False)
    return Transformation(
        type="DIRECT", subtype="TRANSFORMATION", description=action, masking=action in MASKING
    )


class LineageEmitter:
    def __init__(
        self, client: OpenLineageClient, *, namespace: str, producer: str = PRODUCER
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.producer = producer

    @classmethod
    def http(cls, url: str, api_key: str, *, namespace: str) -> LineageEmitter:
        """Posting to ``{url}/api/v1/lineage``, the OpenLineage HTTP transport's default path."""
        config = HttpConfig(url=url, auth=ApiKeyTokenProvider({"apiKey": api_key}), timeout=10)
        return cls(OpenLineageClient(transport=HttpTransport(config)), namespace=namespace)

    def _event(
        self,
        state: RunState,
        run_id: str,
        job: str,
        inputs: Sequence[Dataset],
        outputs: Sequence[Dataset],
        column_lineage: Mapping[FieldRef, Sequence[Source]],
        error: BaseException | None = None,
    ) -> RunEvent:
        out = []
        for d in outputs:
            facets: dict[str, object] = dict(d.schema())
            fields = {
                target[2]: Fields(
                    inputFields=[
                        InputField(
                            namespace=ns,
                            name=name,
                            field=col,
                            transformations=[transformation(action)],
                        )
                        for ns, name, col, action in sources
                    ]
                )
                for target, sources in column_lineage.items()
                if (target[0], target[1]) == (d.namespace, d.name)
            }
            if fields:
                facets["columnLineage"] = ColumnLineageDatasetFacet(fields=fields)
            out.append(OutputDataset(namespace=d.namespace, name=d.name, facets=facets))  # type: ignore[arg-type]
        run_facets = {}
        if error is not None:
            run_facets["errorMessage"] = ErrorMessageRunFacet(
                message=str(error) or type(error).__name__,
                programmingLanguage="python",
                stackTrace="".join(traceback.format_exception_only(type(error), error)),
            )
        return RunEvent(
            eventType=state,
            eventTime=datetime.now(UTC).isoformat(),
            run=Run(runId=run_id, facets=run_facets),  # type: ignore[arg-type]
            job=Job(namespace=self.namespace, name=job),
            inputs=[
                InputDataset(namespace=d.namespace, name=d.name, facets=d.schema()) for d in inputs
            ],
            outputs=out,
            producer=self.producer,
        )

    @contextmanager
    def run(
        self,
        job: str,
        *,
        inputs: Sequence[Dataset] = (),
        outputs: Sequence[Dataset] = (),
        column_lineage: Mapping[FieldRef, Sequence[Source]] | None = None,
        run_id: str | None = None,
    ) -> Iterator[str]:
        """START now, COMPLETE or FAIL at the end; yields the run id."""
        run_id = run_id or str(uuid.uuid4())
        lineage = column_lineage or {}
        self.client.emit(self._event(RunState.START, run_id, job, inputs, outputs, lineage))
        try:
            yield run_id
        except BaseException as exc:
            self.client.emit(
                self._event(RunState.FAIL, run_id, job, inputs, outputs, lineage, error=exc)
            )
            raise
        self.client.emit(self._event(RunState.COMPLETE, run_id, job, inputs, outputs, lineage))
