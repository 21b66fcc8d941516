"""Compliance reports built from evidence: the record of processing (GDPR Art. 30), the CCPA
report, AI pipeline reports (with the EU AI Act's data governance items and DPIA screening),
documents for privacy requests (access, erasure) and decision audit extracts.

Data first (``models``: pydantic, a JSON schema per kind), built by ``ropa``, ``ccpa``, ``ai``
and ``documents`` from the audit trail, the lineage graph, classifications, consents and privacy
requests (``evidence``), compared with the stewards' declarations; then signed with Ed25519 and
anchored to the audit chain heads (``envelope``), and rendered as JSON, HTML or PDF
(``render``). ``service.ReportService`` puts it together.
"""
