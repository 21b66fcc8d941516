"""The subject index: where does the service's estate hold data about one person?

1. **Sources.** Every dataset whose catalog entry says where it lives (``source``: an
   environment variable NAME holding a SQLAlchemy URL, a table, identifier columns) is queried
   by the subject's identifiers with bound parameters, never string-built SQL. An identifier
   column that holds a pseudonym, a keyed hash or a bound encryption token is searched by the
   subject's token under every key of the ring (old keys too), computed with the service's own
   keys: the value itself is nowhere in that table.
2. **Derived data.** From every dataset where the subject was found, observed lineage is
   followed downstream (``LineageView``) to derived datasets and to models. A reachable derived
   dataset that declares a source is searched the same way; one that does not is reported as
   holding data derived from the subject's records; a model is reported as trained on data
   that holds the subject, with the runs that trained it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa

from governance.errors import InvalidInput, Unavailable
from governance.pdp.catalog import Catalog, IdentifierColumn, SourceSpec
from governance.pii.operators import Protector
from governance.subjects.identifiers import Identifier

MAX_ROWS = 10_000
"""Rows read per dataset for one subject; more is a data-quality problem worth a look."""


# ---- what subjects need from lineage (implemented in lineage.subject_view) ------------------


@dataclass(frozen=True)
class DerivedDataset:
    dataset: str  # ns/name
    depth: int
    via_jobs: tuple[str, ...]
    is_model: bool = False
    dataset_type: str | None = None


@dataclass(frozen=True)
class RunRef:
    job: str  # ns/name
    run_id: str
    state: str
    started_at: datetime | None
    ended_at: datetime | None


@dataclass(frozen=True)
class Consumer:
    job: str  # ns/name
    owner: str | None
    job_type: str | None


class LineageView(Protocol):
    """The questions the subject index asks the lineage graph."""

    def downstream(self, dataset: str) -> list[DerivedDataset]:
        """Every dataset reached downstream of ``dataset`` (job level and column level)."""

    def edges(self, datasets: Iterable[str]) -> list[tuple[str, str]]:
        """(upstream, downstream) pairs among ``datasets``: the order erasure must respect."""

    def producing_runs(self, dataset: str, limit: int = 20) -> list[RunRef]:
        """The latest runs of the jobs that wrote ``dataset`` (for a model: its training)."""

    def consumers(self, dataset: str) -> list[Consumer]:
        """Jobs that read ``dataset`` (the recipients of its data)."""

    def upstream(self, dataset: str) -> list[str]:
        """Datasets ``dataset`` was derived from (where its data came from)."""


# ---- connections ------------------------------------------------------------------------------


class SourceConnections:
    """Engines for the sources, from the environment variables the catalog names."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ
        self._engines: dict[str, sa.Engine] = {}
        self._tables: dict[tuple[str, str], sa.Table] = {}
        self._lock = threading.Lock()

    def engine(self, dataset: str, source: SourceSpec) -> sa.Engine:
        environ = self._environ if self._environ is not None else os.environ
        url = environ.get(source.connection)
        if not url:
            raise InvalidInput(
                f"{dataset}: its connection variable {source.connection} is not set in the "
                "service's environment, so it cannot be searched"
            )
        with self._lock:
            engine = self._engines.get(url)
            if engine is None:
                engine = sa.create_engine(url, hide_parameters=True, pool_pre_ping=True)
                self._engines[url] = engine
        return engine

    def table(self, engine: sa.Engine, name: str) -> sa.Table:
        """The table as the database describes it, reflected once per engine (reflection costs
        a few milliseconds a table, more than the indexed search itself)."""
        key = (str(engine.url), name)
        with self._lock:
            found = self._tables.get(key)
        if found is not None:
            return found
        schema, _, bare = name.rpartition(".")
        table = sa.Table(bare, sa.MetaData(), schema=schema or None, autoload_with=engine)
        with self._lock:
            self._tables[key] = table
        return table

    def close(self) -> None:
        with self._lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()
            self._tables.clear()


# ---- matching ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    """How to find one subject in one source: the SQL condition, and what it matched by."""

    table: sa.Table
    condition: sa.ColumnElement[bool]
    matched_by: tuple[str, ...]


def _values_of(identifier: Identifier, raw: Mapping[str, str]) -> list[str]:
    """The forms an identifier may be stored in: as the subject gave it, and canonical."""
    given = raw.get(identifier.kind)
    return list(dict.fromkeys([v for v in (given, identifier.value) if v]))


def build_match(
    engine: sa.Engine,
    dataset: str,
    source: SourceSpec,
    identifiers: Sequence[Identifier],
    raw: Mapping[str, str],
    protector: Protector,
    connections: SourceConnections | None = None,
) -> Match | None:
    """The WHERE clause that finds the subject's rows in ``source`` (bound parameters only),
    or None when the source has no column for any identifier the subject was named by."""
    schema, _, name = source.table.rpartition(".")
    try:
        if connections is not None:
            table = connections.table(engine, source.table)
        else:
            table = sa.Table(name, sa.MetaData(), schema=schema or None, autoload_with=engine)
    except sa.exc.NoSuchTableError as exc:
        raise InvalidInput(f"{dataset}: table {source.table} does not exist") from exc
    except sa.exc.OperationalError as exc:
        raise Unavailable(f"{dataset}: its database cannot be reached") from exc
    clauses: list[sa.ColumnElement[bool]] = []
    matched_by: list[str] = []
    for identifier in identifiers:
        spec: IdentifierColumn | None = source.identifiers.get(identifier.kind)
        if spec is None:
            continue
        if spec.column not in table.c:
            raise InvalidInput(f"{dataset}: column {spec.column} is not in {source.table}")
        column = table.c[spec.column]
        if spec.transform is None:
            values = _values_of(identifier, raw)
            how = identifier.kind
        else:
            values = []
            for form in _values_of(identifier, raw):
                values += protector.candidates(
                    form,
                    identifier.pii_type,
                    spec.transform,
                    domain=spec.domain,
                    dataset=dataset,
                    column=spec.column,
                )
            values = list(dict.fromkeys(values))
            how = f"{identifier.kind} ({spec.transform}"
            how += f", domain {spec.domain})" if spec.domain else ")"
        clauses.append(column.in_(values))
        matched_by.append(how)
    if not clauses:
        return None
    return Match(table, sa.or_(*clauses), tuple(matched_by))


@dataclass
class SourceHit:
    dataset: str
    source: SourceSpec
    matched_by: tuple[str, ...]
    rows: list[dict[str, Any]]
    derived_from: tuple[str, ...] = ()


@dataclass
class SearchResult:
    """Where a subject was found, and what their data reached."""

    hits: list[SourceHit] = field(default_factory=list)
    searched: list[str] = field(default_factory=list)
    derived: dict[str, DerivedDataset] = field(default_factory=dict)
    derived_sources: dict[str, tuple[str, ...]] = field(default_factory=dict)
    unreachable: dict[str, tuple[str, ...]] = field(default_factory=dict)
    models: dict[str, tuple[str, ...]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def datasets(self) -> list[str]:
        return [h.dataset for h in self.hits]


class SubjectSearch:
    def __init__(
        self,
        catalog: Callable[[], Catalog],
        protector: Callable[[], Protector],
        connections: SourceConnections,
        lineage: LineageView | None = None,
    ) -> None:
        self._catalog = catalog
        self._protector = protector
        self._connections = connections
        self._lineage = lineage

    @property
    def connections(self) -> SourceConnections:
        return self._connections

    @property
    def lineage(self) -> LineageView | None:
        return self._lineage

    def match(
        self, dataset: str, identifiers: Sequence[Identifier], raw: Mapping[str, str]
    ) -> tuple[sa.Engine, Match] | None:
        info = self._catalog().get(dataset)
        if info is None or info.source is None:
            raise InvalidInput(f"{dataset} declares no source (catalog.yaml: source)")
        engine = self._connections.engine(dataset, info.source)
        match = build_match(
            engine, dataset, info.source, identifiers, raw, self._protector(), self._connections
        )
        return (engine, match) if match is not None else None

    def search_dataset(
        self, dataset: str, identifiers: Sequence[Identifier], raw: Mapping[str, str]
    ) -> SourceHit | None:
        found = self.match(dataset, identifiers, raw)
        if found is None:
            return None
        engine, match = found
        info = self._catalog().get(dataset)
        assert info is not None and info.source is not None
        try:
            with engine.connect() as conn:
                rows = [
                    dict(r._mapping)
                    for r in conn.execute(
                        sa.select(match.table).where(match.condition).limit(MAX_ROWS)
                    )
                ]
        except sa.exc.OperationalError as exc:
            raise Unavailable(f"{dataset}: its database cannot be reached") from exc
        if not rows:
            return None
        return SourceHit(dataset, info.source, match.matched_by, rows)

    def find(
        self,
        identifiers: Sequence[Identifier],
        raw: Mapping[str, str],
        datasets: Sequence[str] | None = None,
    ) -> SearchResult:
        """Every source (or only ``datasets``), then everything downstream of where the subject
        was found."""
        result = SearchResult()
        catalog = self._catalog()
        sources = catalog.sources()
        for name in datasets or ():
            if catalog.get(name) is None:
                raise InvalidInput(f"{name} is not in the catalog")
            if name not in sources:
                raise InvalidInput(
                    f"{name} declares no source (catalog.yaml: source with a connection), so "
                    "it cannot be searched"
                )
        for dataset in sorted(datasets or sources):
            result.searched.append(dataset)
            try:
                hit = self.search_dataset(dataset, identifiers, raw)
            except (InvalidInput, Unavailable) as exc:
                result.errors[dataset] = exc.detail
                continue
            if hit is not None:
                result.hits.append(hit)
        if self._lineage is None:
            return result
        found = set(result.datasets)
        for dataset in sorted(found):
            for derived in self._lineage.downstream(dataset):
                name = derived.dataset
                known = result.derived.get(name)
                if known is None or derived.depth < known.depth:
                    result.derived[name] = derived
                merged = set(result.derived_sources.get(name, ())) | {dataset}
                result.derived_sources[name] = tuple(sorted(merged))
        for name, derived in sorted(result.derived.items()):
            origins = result.derived_sources[name]
            if derived.is_model:
                result.models[name] = origins
            elif name in found:
                for hit in result.hits:
                    if hit.dataset == name:
                        hit.derived_from = origins
            elif name in sources:
                # reachable and queryable: it was searched above and did not hold the subject
                continue
            else:
                result.unreachable[name] = origins
        return result
