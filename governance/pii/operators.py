"""The operators obligations name: mask, hash, pseudonymize, encrypt, redact and drop.

* ``mask``: format-keeping and irreversible. An email keeps its domain, a card, an IBAN, a phone
  number or an SSN its last four digits, a name its initials, an IP address its network part.
* ``hash``: HMAC-SHA256 under the ``hash`` subkey of the active key, 64 hex digits. Never a bare
  hash: without the key nobody can hash candidate values and compare.
* ``pseudonymize``: a deterministic keyed token ``ps_<key id>_<24 base32>`` (HMAC-SHA256,
  120 bits). The key depends on the *pseudonym domain* of the purpose (``purposes.yaml``,
  ``pseudonym_domain``; the purpose itself by default), so tokens made for two purposes do not
  join unless policy puts both purposes in one domain. Values are canonicalized first (an email
  is case-insensitive, a phone number or card is its digits), so joins survive formatting.
* ``encrypt``: reversible and deterministic, ``encb_<key id>_<base64url>``: AES-SIV (RFC 5297,
  AES-256) under the ``encrypt`` subkey, with the key id, the dataset and the column bound as
  associated data: a token lifted from one dataset or column does not open under a permission
  for another. Reversal is a policy decision (``POST /v1/pii/reidentify``) and is audited.
  Tokens made before binding (``enc_<key id>_…``, the key id only as associated data) open only
  where ``GOVERNANCE_PII__LEGACY_TOKENS`` allows it, and ``governance pii rebind`` rewrites them
  as bound tokens (the migration the README describes).
* ``redact``: ``<TYPE>``; free text is scrubbed of what the analyzer finds in it instead.
* ``drop``: the column goes (``apply`` removes it; as a value operator it gives ``None``).

``None`` stays ``None`` under every operator: a missing value reveals nothing new.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from governance.pdp.decision import ObligationAction
from governance.pii.keyring import KeyRing, KeyRingError, subject_index_key
from governance.pii.types import FREE_TEXT

ENCRYPTED_PREFIX = "encb_"
LEGACY_ENCRYPTED_PREFIX = "enc_"
PSEUDONYM_PREFIX = "ps_"
_SIV_AD = b"governance-pii/v1/encrypt"
_SIV_AD_BOUND = b"governance-pii/v2/encrypt-bound"


class TokenError(ValueError):
    """A token that is not ours, was altered, or names a key the ring does not hold."""


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


# ---- canonical forms (for hash and pseudonymize) ------------------------------------------------

_NOT_DIGIT = re.compile(r"[^0-9]")
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]")


def canonical(value: str, pii_type: str | None) -> str:
    """The form two spellings of one value share, so their tokens and hashes match."""
    if pii_type == "EMAIL_ADDRESS":
        return value.strip().lower()
    if pii_type == "PHONE_NUMBER":
        stripped = value.strip()
        return ("+" if stripped.startswith("+") else "") + _NOT_DIGIT.sub("", stripped)
    if pii_type in ("CREDIT_CARD", "US_SSN", "US_ITIN", "US_BANK_NUMBER"):
        return _NOT_DIGIT.sub("", value)
    if pii_type in ("IBAN_CODE", "LOYALTY_CARD"):
        return _NOT_ALNUM.sub("", value).upper()
    return value.strip()


# ---- masking ------------------------------------------------------------------------------------


def _mask_chars(text: str, keep_last: int = 0, keep_first: int = 0, *, alnum: bool = True) -> str:
    """Star every letter/digit except the first ``keep_first`` and last ``keep_last`` of them."""
    positions = [i for i, c in enumerate(text) if (c.isalnum() if alnum else c.isdigit())]
    hidden = set(positions[keep_first : len(positions) - keep_last])
    return "".join("*" if i in hidden else c for i, c in enumerate(text))


def mask_value(value: str, pii_type: str | None) -> str:
    """Format-keeping, irreversible masking by PII type."""
    if not value:
        return value
    if pii_type == "EMAIL_ADDRESS" and "@" in value:
        local, _, domain = value.rpartition("@")
        return (local[:1] + "***" if local else "***") + "@" + domain
    if pii_type in ("CREDIT_CARD", "PHONE_NUMBER", "US_SSN", "US_ITIN", "US_BANK_NUMBER"):
        digits = sum(c.isdigit() for c in value)
        return _mask_chars(value, keep_last=min(4, max(0, digits - 4)), alnum=False)
    if pii_type == "IBAN_CODE":
        return _mask_chars(value, keep_first=2, keep_last=4)
    if pii_type == "IP_ADDRESS":
        return _mask_ip(value)
    if pii_type == "PERSON":
        return " ".join(w[:1] + "*" * (len(w) - 1) if w else w for w in value.split(" "))
    if pii_type == "DATE_TIME":
        return _mask_chars(value, keep_first=4, alnum=False)  # the year of an ISO date
    if pii_type == "LOCATION" and "," in value:
        head, _, tail = value.rpartition(",")
        return _mask_chars(head) + "," + tail  # the town or country stays
    if pii_type in ("CUSTOMER_ID", "LOYALTY_CARD", "ORDER_NUMBER"):
        return _mask_chars(value, keep_last=4)
    count = sum(c.isalnum() for c in value)
    if count <= 4:
        return _mask_chars(value)
    return _mask_chars(value, keep_first=1, keep_last=1)


def _mask_ip(value: str) -> str:
    try:
        ip = ipaddress.ip_address(value.strip())
    except ValueError:
        return _mask_chars(value, keep_first=1)
    if ip.version == 4:
        a, b, _, _ = value.strip().split(".")
        return f"{a}.{b}.*.*"
    groups = ip.exploded.split(":")
    return ":".join(groups[:3]) + ":*:*:*:*:*"


def redact_value(value: str, pii_type: str | None) -> str:
    return f"<{pii_type or 'PII'}>"


# ---- keyed operators ----------------------------------------------------------------------------


class Protector:
    """The keyed operators over one key ring (and the free-text scrubber, when there is one)."""

    def __init__(
        self,
        ring: KeyRing,
        *,
        domains: Mapping[str, str] | None = None,
        scrub: Callable[[str], str] | None = None,
    ) -> None:
        self.ring = ring
        self._domains = dict(domains or {})
        self._scrub = scrub
        active = ring.active_id
        self._hash_key = ring.subkey(active, "hash")
        self._siv = AESSIV(ring.subkey(active, "encrypt", 64))
        self._enc_prefix = f"{ENCRYPTED_PREFIX}{active}_"
        self._subject_key = subject_index_key(ring)

    def domain_of(self, purpose: str | None) -> str:
        """The pseudonym domain of a purpose (tokens join only within one domain)."""
        purpose = purpose or "default"
        return self._domains.get(purpose, purpose)

    def hash(self, value: Any, pii_type: str | None = None) -> str | None:
        if value is None:
            return None
        data = canonical(_text(value), pii_type).encode()
        return hmac.digest(self._hash_key, data, hashlib.sha256).hex()

    def pseudonymize(
        self, value: Any, pii_type: str | None = None, *, purpose: str | None = None
    ) -> str | None:
        if value is None:
            return None
        token: str = self.pseudonymizer(pii_type, purpose)(value)
        return token

    def pseudonymizer(self, pii_type: str | None, purpose: str | None) -> Callable[[Any], Any]:
        active = self.ring.active_id
        key = self.ring.subkey(active, f"pseudonymize/{self.domain_of(purpose)}")
        prefix = f"{PSEUDONYM_PREFIX}{active}_"
        digest, sha256, b32 = hmac.digest, hashlib.sha256, b32_120

        def one(value: Any) -> Any:
            if value is None:
                return None
            mac = digest(key, canonical(_text(value), pii_type).encode(), sha256)
            return prefix + b32(mac)

        return one

    def encrypt(self, value: Any, *, dataset: str, column: str) -> str | None:
        """A reversible token bound to ``dataset`` and ``column`` (both are needed to open it)."""
        if value is None:
            return None
        ad = [_SIV_AD_BOUND, self.ring.active_id.encode(), dataset.encode(), column.encode()]
        sealed = self._siv.encrypt(_text(value).encode(), ad)
        return self._enc_prefix + base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()

    def decrypt(self, token: str, *, dataset: str, column: str | None, legacy: bool = False) -> str:
        """The original value of an ``encrypt`` token, under whichever ring key made it.

        A bound token opens only with the dataset and column it was made for. A legacy
        (unbound) token opens only with ``legacy`` set."""
        if not isinstance(token, str):
            raise TokenError("not an encryption token (encb_<key id>_<data>)")
        if token.startswith(ENCRYPTED_PREFIX):
            if column is None:
                raise TokenError("a bound token opens only with the column it was made for")
            key_id, payload = _token_parts(token, ENCRYPTED_PREFIX)
            ad = [_SIV_AD_BOUND, key_id.encode(), dataset.encode(), column.encode()]
        elif token.startswith(LEGACY_ENCRYPTED_PREFIX):
            if not legacy:
                raise TokenError(
                    "an unbound token from before tokens were bound to their dataset; rebind it "
                    "with 'governance pii rebind' (or allow GOVERNANCE_PII__LEGACY_TOKENS)"
                )
            key_id, payload = _token_parts(token, LEGACY_ENCRYPTED_PREFIX)
            ad = [_SIV_AD, key_id.encode()]
        else:
            raise TokenError("not an encryption token (encb_<key id>_<data>)")
        try:
            siv = _siv_for(self.ring, key_id)
        except KeyRingError:
            raise TokenError(
                f"the token names key {key_id!r}, which the key ring does not hold"
            ) from None
        try:
            padded = payload + "=" * (-len(payload) % 4)
            sealed = base64.b64decode(padded, altchars=b"-_", validate=True)
            return siv.decrypt(sealed, ad).decode()
        except (InvalidTag, ValueError, UnicodeDecodeError, binascii.Error):
            raise TokenError(
                "the token does not open here: altered, made by another key ring, or made for "
                "another dataset or column"
            ) from None

    def legacy_encrypt(self, value: Any) -> str | None:
        """An unbound token as made before binding (for migration tests only)."""
        if value is None:
            return None
        sealed = self._siv.encrypt(_text(value).encode(), [_SIV_AD, self.ring.active_id.encode()])
        prefix = f"{LEGACY_ENCRYPTED_PREFIX}{self.ring.active_id}_"
        return prefix + base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()

    def candidates(
        self,
        value: str,
        pii_type: str | None,
        transform: str,
        *,
        domain: str | None = None,
        dataset: str | None = None,
        column: str | None = None,
    ) -> list[str]:
        """What ``value`` looks like after ``transform`` under EVERY key of the ring, old ones
        too: how a data subject is found in a column that holds their pseudonym, keyed hash
        or (deterministic) encryption token."""
        data = canonical(_text(value), pii_type).encode()
        out: list[str] = []
        for key in self.ring.keys:
            if transform == "pseudonymize":
                subkey = self.ring.subkey(key.id, f"pseudonymize/{domain or 'default'}")
                mac = hmac.digest(subkey, data, hashlib.sha256)
                out.append(f"{PSEUDONYM_PREFIX}{key.id}_{b32_120(mac)}")
            elif transform == "hash":
                out.append(
                    hmac.digest(self.ring.subkey(key.id, "hash"), data, hashlib.sha256).hex()
                )
            elif transform == "encrypt":
                if dataset is None or column is None:
                    raise ValueError("encryption candidates need the dataset and the column")
                siv = _siv_for(self.ring, key.id)
                ad = [_SIV_AD_BOUND, key.id.encode(), dataset.encode(), column.encode()]
                for form in dict.fromkeys([_text(value), data.decode()]):
                    sealed = siv.encrypt(form.encode(), ad)
                    body = base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()
                    out.append(f"{ENCRYPTED_PREFIX}{key.id}_{body}")
            else:
                raise ValueError(f"unknown transform {transform!r}")
        return out

    def subject_ref(self, kind: str, value: Any, pii_type: str | None) -> str | None:
        """The keyed reference of a subject identifier (``governance.subjects.identifiers``):
        what consent records and consent row filters name instead of the value itself."""
        if value is None:
            return None
        label = f"{kind}:{canonical(_text(value), pii_type)}"
        return hmac.digest(self._subject_key, label.encode(), hashlib.sha256).hex()

    def scrub(self, text: Any) -> Any:
        """Free text without the PII the analyzer finds (every character, if none is set up)."""
        if text is None:
            return None
        if self._scrub is None:
            return redact_value(_text(text), FREE_TEXT)
        return self._scrub(_text(text))

    # ---- per column -------------------------------------------------------------------------

    def operator(
        self,
        action: ObligationAction,
        pii_type: str | None,
        purpose: str | None,
        *,
        memo: bool = True,
        dataset: str | None = None,
        column: str | None = None,
    ) -> Callable[[Any], Any]:
        """The value function of one column's obligation (memoized unless ``memo=False``:
        columns repeat values; a caller that dedupes first has no use for the cache).
        ``encrypt`` binds its tokens to ``dataset`` and ``column``, which it then needs."""
        fn: Callable[[Any], Any]
        if action is ObligationAction.keep:
            return _identity
        if action is ObligationAction.drop:
            return _none
        if action is ObligationAction.mask:

            def fn(v: Any) -> Any:
                return None if v is None else mask_value(_text(v), pii_type)

        elif action is ObligationAction.hash:

            def fn(v: Any) -> Any:
                return self.hash(v, pii_type)

        elif action is ObligationAction.pseudonymize:
            fn = self.pseudonymizer(pii_type, purpose)
        elif action is ObligationAction.encrypt:
            if dataset is None or column is None:
                raise ValueError("encrypt binds its tokens to a dataset and a column: name both")
            bound_dataset, bound_column = dataset, column

            def fn(v: Any) -> Any:
                return self.encrypt(v, dataset=bound_dataset, column=bound_column)

        elif action is ObligationAction.redact:
            if pii_type == FREE_TEXT:
                fn = self.scrub
            else:

                def fn(v: Any) -> Any:
                    return None if v is None else redact_value(_text(v), pii_type)

        else:  # pragma: no cover - the enum is closed
            raise ValueError(f"unknown action {action}")
        return _memo(fn) if memo else fn


_B32_PAIRS = [
    a + b for a in "abcdefghijklmnopqrstuvwxyz234567" for b in "abcdefghijklmnopqrstuvwxyz234567"
]
_B32_SHIFTS = tuple(range(110, -1, -10))


def b32_120(mac: bytes) -> str:
    """The first 15 bytes (120 bits) of ``mac`` in lower-case RFC 4648 base32, 24 characters:
    ``base64.b32encode(mac[:15]).decode().lower()`` at half the cost (that one is pure Python,
    and a pseudonymized column calls it once a value)."""
    n = int.from_bytes(mac[:15], "big")
    pairs = _B32_PAIRS
    return "".join([pairs[(n >> s) & 1023] for s in _B32_SHIFTS])


def _identity(value: Any) -> Any:
    return value


def _none(value: Any) -> Any:
    return None


def _memo(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    cached = lru_cache(maxsize=1 << 16)(fn)

    def call(value: Any) -> Any:
        try:
            return cached(value)
        except TypeError:  # unhashable (a list in a JSON column)
            return fn(value)

    return call


def _token_parts(token: str, prefix: str) -> tuple[str, str]:
    key_id, _, payload = token[len(prefix) :].partition("_")
    if not key_id or not payload:
        raise TokenError(f"not an encryption token ({prefix}<key id>_<data>)")
    return key_id, payload


@lru_cache(maxsize=64)
def _siv_for(ring: KeyRing, key_id: str) -> AESSIV:
    return AESSIV(ring.subkey(key_id, "encrypt", 64))
