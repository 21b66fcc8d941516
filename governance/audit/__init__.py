"""The append-only, hash-chained audit trail: chains per writer, signed checkpoints kept
outside the database, and verification online (the database) or offline (an export).

* ``chain``: appending (a leased chain per process) and reading the merged trail;
* ``checkpoints``: Ed25519-signed Merkle checkpoints of the chain heads, and the anchor sinks;
* ``verify``: the one verification procedure, over the database or an export file.
"""

from governance.audit.chain import (
    GENESIS,
    AuditEntry,
    AuditLog,
    AuditQuery,
    ChainHead,
    canonical_json,
)
from governance.audit.checkpoints import Checkpointer
from governance.audit.verify import Verification, verify_database

__all__ = [
    "GENESIS",
    "AuditEntry",
    "AuditLog",
    "AuditQuery",
    "ChainHead",
    "Checkpointer",
    "Verification",
    "canonical_json",
    "verify_database",
]
