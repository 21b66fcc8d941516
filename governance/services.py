"""The composition root: every service object of one process, built from the settings.

The API (``governance.api.app``), the CLI and the demo all build their services here, so the
wiring exists once. This module sits above the domains (policy decisions, PII, lineage, subject
rights, reports) and may import any of them; the domains never import it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from governance.audit import AuditLog, Checkpointer, Verification, verify_database
from governance.audit.checkpoints import AnchorSink, FileAnchorSink, HttpAnchorSink
from governance.callers import ApiKeys
from governance.config import Settings
from governance.db import Database, database_from_settings
from governance.decisions import DecisionService
from governance.models import PolicyVersionRecord
from governance.pdp.bundle import PolicyBundle
from governance.pdp.engine import PolicyDecisionPoint
from governance.pdp.watcher import PolicyWatcher
from governance.pii.keyring import keyring_from_settings
from governance.recorder import DecisionRecorder
from governance.signing import Signer

if TYPE_CHECKING:
    from governance.pii.classifications import ClassificationStore
    from governance.pii.keyring import KeyRing
    from governance.pii.service import PiiService
    from governance.reports.service import ReportService
    from governance.subjects.service import SubjectServices
    from lineage.service import LineageServices

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    db: Database
    pdp: PolicyDecisionPoint
    audit: AuditLog
    recorder: DecisionRecorder
    decisions: DecisionService
    keys: ApiKeys
    watcher: PolicyWatcher
    signer: Signer
    checkpointer: Checkpointer
    ring: KeyRing
    lineage: LineageServices | None = None
    pii: PiiService | None = None
    classifications: ClassificationStore | None = None
    subjects: SubjectServices | None = None
    reports: ReportService | None = None

    def parts(self) -> list[Any]:
        """The optional services that were built, in start order."""
        parts = (self.lineage, self.pii, self.classifications, self.subjects, self.reports)
        return [p for p in parts if p is not None]

    def verify_audit(self) -> Verification:
        """The whole trail against every checkpoint in the anchor files, with the audit key."""
        stored = [
            checkpoint
            for sink in self.checkpointer.sinks
            if isinstance(sink, FileAnchorSink)
            for checkpoint in sink.read()
        ]
        keys = {k.key_id: k for k in self.signer.public_keys()}
        return verify_database(self.audit, stored, keys)

    def start(self) -> None:
        self.watcher.start()
        self.checkpointer.start()
        for part in self.parts():
            starter = getattr(part, "start", None)
            if callable(starter):
                starter()

    def close(self) -> None:
        self.watcher.stop()
        self.recorder.close()
        self.checkpointer.stop()
        self.audit.release()
        for part in reversed(self.parts()):
            closer = getattr(part, "close", None)
            if callable(closer):
                closer()
        self.db.dispose()


def remember_version(db: Database, bundle: PolicyBundle) -> None:
    """Keep every served policy version, so auditors can resolve the hash on a decision."""
    try:
        with db.session() as session:
            if session.get(PolicyVersionRecord, bundle.version) is None:
                session.add(
                    PolicyVersionRecord(
                        version=bundle.version,
                        first_loaded_at=datetime.now(UTC),
                        files=json.dumps(dict(bundle.files), sort_keys=True),
                    )
                )
                session.commit()
    except Exception as exc:  # another worker may have inserted it first
        log.debug("policy version not recorded: %s", type(exc).__name__)


def anchor_sinks(settings: Settings) -> list[AnchorSink]:
    """Where checkpoints of the audit chains go (outside the SQL store)."""
    sinks: list[AnchorSink] = []
    path = settings.anchor_file()
    if path is not None:
        sinks.append(FileAnchorSink(path))
    if settings.audit.anchor_url:
        sinks.append(HttpAnchorSink(settings.audit.anchor_url))
    return sinks


def build_services(settings: Settings, db: Database | None = None) -> Services:
    """Build the core services; raises ``InvalidPolicy`` when the policy files do not load."""
    db = db or database_from_settings(settings)
    pdp = PolicyDecisionPoint.from_directory(
        settings.policy_dir,
        cache_size=settings.decision_cache_size,
        fast_path=settings.pdp_fast_path,
        run_tests=settings.policy_tests_required,
    )
    audit = AuditLog(
        db,
        settings.audit.hmac_key.get_secret_value().encode(),
        lease_seconds=settings.audit.chain_lease_seconds,
    )
    ring = keyring_from_settings(settings)
    signer = Signer(ring)
    checkpointer = Checkpointer(
        audit,
        signer,
        anchor_sinks(settings),
        every_records=settings.audit.checkpoint_records,
        every_seconds=settings.audit.checkpoint_seconds,
    )
    recorder = DecisionRecorder(
        db,
        audit,
        window_ms=settings.audit.group_commit_ms,
        on_commit=checkpointer.note_appended,
    )
    decisions = DecisionService(pdp, recorder, record_lineage=settings.lineage.record_decisions)
    remember_version(db, pdp.bundle)
    pdp.on_reload(lambda bundle: remember_version(db, bundle))
    return Services(
        settings=settings,
        db=db,
        pdp=pdp,
        audit=audit,
        recorder=recorder,
        decisions=decisions,
        keys=ApiKeys(db, cache_seconds=settings.api.key_cache_seconds),
        signer=signer,
        checkpointer=checkpointer,
        ring=ring,
        watcher=PolicyWatcher(pdp, settings.policy_reload_seconds, settings.policy_settle_seconds),
    )


def build_all(settings: Settings) -> Services:
    """The core services plus lineage (the store the settings name), PII and classifications."""
    from governance.pii.classifications import ClassificationStore
    from governance.pii.service import PiiService
    from lineage.service import build_lineage

    services = build_services(settings)
    services.lineage = build_lineage(settings, services.db, services.recorder)
    pdp = services.pdp
    services.pii = PiiService(settings, domains=lambda: pdp.bundle.pseudonym_domains())
    recorder = services.recorder
    classifications = ClassificationStore(
        services.db,
        events=lambda events: recorder.submit([], events, "classification").result(timeout=30),
        poll_seconds=settings.policy_reload_seconds,
    )
    pdp.use_classifications(classifications.confirmed)
    classifications.on_change(pdp.invalidate)
    services.classifications = classifications
    services.subjects = build_subjects(services)
    services.decisions.use_gate(services.subjects.gate)
    services.reports = build_reports(services, classifications.confirmed)
    return services


def build_reports(services: Services, confirmed: Any = None) -> ReportService:
    """Reports over the evidence stores, signed with the key ring's signing key."""
    from governance.reports.service import ReportService
    from governance.reports.sources import ReportSources

    pdp, recorder = services.pdp, services.recorder
    sources = ReportSources(
        db=services.db,
        bundle=lambda: pdp.bundle,
        audit=services.audit,
        lineage=services.lineage.store if services.lineage is not None else None,
        subjects=services.subjects,
        classifications=confirmed,
    )
    return ReportService(
        sources,
        services.signer,
        heads=services.audit.heads,
        record=recorder.record,
        verify_chain=services.verify_audit,
    )


def build_subjects(services: Services) -> SubjectServices:
    """Consent, privacy requests, the subject index and erasure, over the core services."""
    from governance.subjects.consent import ConsentGate, ConsentStore
    from governance.subjects.erasure import Eraser
    from governance.subjects.identifiers import SubjectKeys
    from governance.subjects.requests import PrivacyRequests
    from governance.subjects.search import SourceConnections, SubjectSearch
    from governance.subjects.service import SubjectServices
    from lineage.subject_view import StoreSubjectView

    pdp, recorder = services.pdp, services.recorder
    pii = services.pii
    assert pii is not None

    def catalog() -> Any:
        return pdp.bundle.catalog

    def purposes() -> Any:
        return pdp.bundle.purposes

    keys = SubjectKeys(services.ring, lambda: pdp.bundle.catalog.identifiers)
    consents = ConsentStore(services.db, keys, purposes)
    search = SubjectSearch(
        catalog,
        pii.protector,
        SourceConnections(),
        StoreSubjectView(services.lineage.store) if services.lineage is not None else None,
    )
    return SubjectServices(
        keys=keys,
        consents=consents,
        gate=ConsentGate(consents, purposes, catalog),
        requests=PrivacyRequests(services.db, keys, pii.protector, recorder.record),
        search=search,
        eraser=Eraser(services.db, search, catalog),
        audit=services.audit,
        catalog=catalog,
        purposes=purposes,
    )
