"""Ed25519 signatures for what leaves the service: audit checkpoints and reports.

The signing keys are derived from the service's key ring (``governance.pii.keyring``) with
HKDF under their own label, so they rotate with ``governance keys rotate`` like every other key:
new signatures use the active key, and every key still in the ring verifies what it signed.
Only public keys leave the service (``public_keys``, ``GET /v1/reports/keys``); a verifier needs
nothing else, not the database, not the ring.

A signature covers bytes; callers sign the canonical JSON of what they sign (``canonical``), so
a document re-serialized with other spacing or key order still verifies.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from governance.pii.keyring import KeyRing

LABEL = "signing/ed25519"
ALGORITHM = "Ed25519"


def canonical(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8: the bytes a signature covers."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class PublicKey:
    key_id: str
    created: str
    raw: bytes

    def public(self) -> dict[str, str]:
        return {
            "kid": self.key_id,
            "alg": ALGORITHM,
            "created": self.created,
            "public_key": base64.b64encode(self.raw).decode(),
        }

    def verifier(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.raw)


class Signer:
    """Signs with the ring's active key; lists every key's public half."""

    def __init__(self, ring: KeyRing) -> None:
        self._ring = ring
        self._private = {
            k.id: Ed25519PrivateKey.from_private_bytes(ring.subkey(k.id, LABEL)) for k in ring.keys
        }

    def __repr__(self) -> str:  # never key material
        return f"Signer(active={self._ring.active_id!r})"

    @property
    def key_id(self) -> str:
        return self._ring.active_id

    def sign(self, document: Any) -> tuple[str, str]:
        """(key id, base64 signature) over the canonical form of ``document``."""
        signature = self._private[self.key_id].sign(canonical(document))
        return self.key_id, base64.b64encode(signature).decode()

    def public_keys(self) -> list[PublicKey]:
        out = []
        for key in self._ring.keys:
            raw = (
                self._private[key.id]
                .public_key()
                .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            )
            out.append(PublicKey(key.id, key.created.isoformat(), raw))
        return out

    def keyset(self) -> dict[str, Any]:
        """The published key set: what ``--public-key`` files and ``/v1/reports/keys`` hold."""
        return {"active": self.key_id, "keys": [k.public() for k in self.public_keys()]}


class KeySetError(ValueError):
    """A public key file that cannot be read."""


def parse_keyset(doc: Any) -> dict[str, PublicKey]:
    """Key id → public key, from a published key set (or a list of its keys)."""
    items: Iterable[Any] = doc.get("keys", []) if isinstance(doc, Mapping) else doc
    out: dict[str, PublicKey] = {}
    try:
        for item in items:
            raw = base64.b64decode(str(item["public_key"]), validate=True)
            if len(raw) != 32:
                raise KeySetError(f"key {item.get('kid')!r} is not an Ed25519 public key")
            out[str(item["kid"])] = PublicKey(str(item["kid"]), str(item.get("created", "")), raw)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, KeySetError):
            raise
        raise KeySetError(f"not a public key set ({type(exc).__name__})") from None
    if not out:
        raise KeySetError("the key set holds no keys")
    return out


def verify(keys: Mapping[str, PublicKey], key_id: str, document: Any, signature: str) -> bool:
    """Does ``signature`` (base64) by key ``key_id`` cover ``document``?"""
    key = keys.get(key_id)
    if key is None:
        return False
    try:
        key.verifier().verify(base64.b64decode(signature, validate=True), canonical(document))
    except (InvalidSignature, ValueError):
        return False
    return True
