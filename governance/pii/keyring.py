"""The key ring of pseudonymization: versioned master keys, one active, read from a file or env.

A key file is JSON, kept out of the repository and readable by the service only (0600)::

    {"version": 1, "active": "k3f9a1c20",
     "keys": [{"id": "k3f9a1c20", "created": "2026-11-28T10:00:00+00:00", "material": "<base64>"}]}

Every operator works with a *subkey* derived from a master key with HKDF-SHA256 and a label
(``hash``, ``pseudonymize/<domain>``, ``encrypt``), so one master key never serves two purposes
and tokens of two pseudonym domains cannot be joined. New tokens use the active key; tokens that
name an older key id (reversible ones) still reverse while that key is in the ring.
``rotate`` adds a key and makes it active; nothing is ever deleted by rotation.

Key material is never logged, printed or put in an error message: ``KeyRing`` and ``MasterKey``
have no repr of their secrets.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from governance.config import Environment, Settings

log = logging.getLogger(__name__)

KEY_BYTES = 32
_KID_ALPHABET = "0123456789abcdef"


class KeyRingError(Exception):
    """The key ring cannot be read or used; the message never contains key material."""


@dataclass(frozen=True)
class MasterKey:
    id: str
    created: datetime
    material: bytes = field(repr=False)

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "created": self.created.isoformat()}


def new_key_id() -> str:
    return "k" + "".join(secrets.choice(_KID_ALPHABET) for _ in range(8))


@dataclass(frozen=True)
class KeyRing:
    active_id: str
    keys: tuple[MasterKey, ...]
    source: str = "memory"

    def __post_init__(self) -> None:
        ids = [k.id for k in self.keys]
        if len(set(ids)) != len(ids):
            raise KeyRingError(f"key ring {self.source}: duplicate key ids")
        if self.active_id not in ids:
            raise KeyRingError(
                f"key ring {self.source}: the active key {self.active_id} is missing"
            )
        for k in self.keys:
            if len(k.material) != KEY_BYTES:
                raise KeyRingError(f"key ring {self.source}: key {k.id} must be {KEY_BYTES} bytes")
            if not k.id.isalnum() or len(k.id) > 32:
                raise KeyRingError(f"key ring {self.source}: bad key id {k.id!r}")

    def __repr__(self) -> str:  # never the material
        return f"KeyRing(active={self.active_id!r}, keys={[k.id for k in self.keys]!r})"

    @property
    def active(self) -> MasterKey:
        return self.get(self.active_id)

    def get(self, key_id: str) -> MasterKey:
        for k in self.keys:
            if k.id == key_id:
                return k
        raise KeyRingError(f"unknown key id {key_id!r}")

    def has(self, key_id: str) -> bool:
        return any(k.id == key_id for k in self.keys)

    def subkey(self, key_id: str, label: str, length: int = KEY_BYTES) -> bytes:
        """HKDF-SHA256 of master key ``key_id`` for ``label`` (cached per process)."""
        return _derive(self.get(key_id).material, label, length)

    # ---- lifecycle ---------------------------------------------------------------------------

    @classmethod
    def generate(cls, source: str = "memory") -> KeyRing:
        key = MasterKey(new_key_id(), datetime.now(UTC), secrets.token_bytes(KEY_BYTES))
        return cls(key.id, (key,), source)

    def rotate(self) -> KeyRing:
        """A ring with one more key, now active; every older key stays for reversal."""
        key = MasterKey(new_key_id(), datetime.now(UTC), secrets.token_bytes(KEY_BYTES))
        while self.has(key.id):  # pragma: no cover - 16^8 ids
            key = MasterKey(new_key_id(), key.created, key.material)
        return KeyRing(key.id, (*self.keys, key), self.source)

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": 1,
                "active": self.active_id,
                "keys": [
                    {
                        "id": k.id,
                        "created": k.created.isoformat(),
                        "material": base64.b64encode(k.material).decode(),
                    }
                    for k in self.keys
                ],
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str, source: str) -> KeyRing:
        try:
            doc = json.loads(text)
            if not isinstance(doc, dict) or doc.get("version") != 1:
                raise KeyRingError(f"key ring {source}: expected a version 1 key ring")
            keys = tuple(
                MasterKey(
                    str(item["id"]),
                    datetime.fromisoformat(str(item["created"])),
                    base64.b64decode(str(item["material"]), validate=True),
                )
                for item in doc["keys"]
            )
            return cls(str(doc["active"]), keys, source)
        except KeyRingError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            # the exception text of a decoder may quote the input: name only its type
            raise KeyRingError(f"key ring {source} is not valid ({type(exc).__name__})") from None

    @classmethod
    def load(cls, path: Path) -> KeyRing:
        try:
            text = path.read_text()
        except OSError as exc:
            raise KeyRingError(f"cannot read the key ring {path}: {exc.strerror}") from None
        return cls.from_json(text, str(path))

    def save(self, path: Path) -> None:
        """Write atomically, readable by the owner only."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".keyring-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(self.to_json())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


SUBJECT_INDEX_LABEL = "subjects/index"


def subject_index_key(ring: KeyRing) -> bytes:
    """The key of keyed subject references (consents, privacy requests, consent row filters).

    Derived from the OLDEST key of the ring, which rotation never removes: a subject's
    reference must not change when keys rotate, or their consent records would be lost."""
    oldest = min(ring.keys, key=lambda k: k.created)
    return ring.subkey(oldest.id, SUBJECT_INDEX_LABEL)


@lru_cache(maxsize=1024)
def _derive(material: bytes, label: str, length: int) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=length,
        salt=None,
        info=f"governance-pii/v1/{label}".encode(),
    ).derive(material)


DEV_KEY_FILE = Path("var/pii-keyring.json")


def keyring_from_settings(settings: Settings) -> KeyRing:
    """The ring from ``GOVERNANCE_PII__KEY_RING``, else the key file.

    In development a missing key file is created (0600, under ``var/``, never in the repo); in
    production a missing ring is an error, so no data is ever protected with a throwaway key.
    """
    if settings.pii.key_ring is not None:
        return KeyRing.from_json(
            settings.pii.key_ring.get_secret_value(), "GOVERNANCE_PII__KEY_RING"
        )
    path = settings.pii.key_file
    if path is None:
        if settings.environment is Environment.production:
            raise KeyRingError(
                "no key ring: set GOVERNANCE_PII__KEY_FILE (create one with 'governance keys "
                "rotate --key-file PATH') or GOVERNANCE_PII__KEY_RING"
            )
        path = DEV_KEY_FILE
    if not path.exists() and settings.environment is not Environment.production:
        ring = KeyRing.generate(str(path))
        ring.save(path)
        log.warning("created a development PII key ring at %s (key id %s)", path, ring.active_id)
        return ring
    return KeyRing.load(path)
