"""Data governance and compliance service: policy decisions, PII protection and lineage."""

__version__ = "0.1.0"
