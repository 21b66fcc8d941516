"""What report builders read: the service's stores, handed over by the composition root."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from governance.audit import AuditLog
from governance.db import Database
from governance.pdp.bundle import PolicyBundle

if TYPE_CHECKING:
    from governance.subjects.service import SubjectServices


@dataclass
class ReportSources:
    db: Database
    bundle: Callable[[], PolicyBundle]
    audit: AuditLog
    lineage: Any | None
    """A ``lineage.store.LineageStore`` (typed loosely: governance does not import lineage)."""
    subjects: SubjectServices | None
    classifications: Callable[[str], Mapping[str, str]] | None = None
    """Confirmed column classifications of a dataset (column → PII type)."""

    def columns_of(self, dataset: str) -> dict[str, str]:
        """Column → PII type: the catalog, overridden by confirmed classifications."""
        info = self.bundle().catalog.get(dataset)
        known = dict(info.columns) if info else {}
        if self.classifications is not None:
            known.update(self.classifications(dataset))
        return known
