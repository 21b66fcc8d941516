"""Who a data subject is: their identifiers, checked, canonicalized and keyed.

A subject is named by any of the identifier kinds the catalog declares (``customer_id``,
``email``, ``phone`` by default). Each value is checked for its shape (a malformed identifier is
a 422, never a silent miss), canonicalized the way pseudonyms are (an e-mail is case-blind, a
phone number is its digits), and keyed: the service stores and indexes
``HMAC(index key, kind:canonical value)``, never the e-mail itself. The index key is derived
from the OLDEST key of the key ring, which rotation never removes, so subject keys stay stable
across key rotations.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from governance.errors import FieldProblem, InvalidInput
from governance.pdp.catalog import DEFAULT_IDENTIFIERS, IdentifierKind
from governance.pdp.decision import DataSubjectRef
from governance.pii.keyring import KeyRing, subject_index_key
from governance.pii.operators import canonical

EMAIL_SHAPE = (
    r"^[^@\x00-\x20\x7f-\x9f]{1,64}@[^@\x00-\x20\x7f-\x9f]{1,255}\.[^@.\x00-\x20\x7f-\x9f]{2,63}$"
)
"""No ``\\s``: Python's and JavaScript's disagree (NEL, U+001C-U+001F), and the same expression
is checked here and published as a JSON-schema pattern; controls and spaces are spelt out."""
PHONE_SHAPE = r"^\+?(?:[ ().\-]{0,2}[0-9]){7,15}[ ().\-]{0,2}$"
"""7 to 15 digits (E.164), with the separators people write between them."""
GENERIC_SHAPE = r"^[A-Za-z0-9_.:\-]{1,128}$"


def anchored(shape: str) -> str:
    """The shape as a JSON-schema ``pattern``, which matches anywhere unless anchored."""
    core = shape.removeprefix("^").removesuffix("$")
    return f"^(?:{core})$"


def identifier_shape(spec: IdentifierKind) -> str:
    """The regular expression a whole value of this kind must match (OpenAPI: ``anchored``)."""
    if spec.pattern is not None:
        return spec.pattern
    if spec.pii_type == "EMAIL_ADDRESS":
        return EMAIL_SHAPE
    if spec.pii_type == "PHONE_NUMBER":
        return PHONE_SHAPE
    return GENERIC_SHAPE


SubjectIdentifiers = DataSubjectRef
"""A data subject as a request names them: one or more identifiers."""


@dataclass(frozen=True)
class Identifier:
    kind: str
    value: str  # canonical
    pii_type: str

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.value}"


def parse_identifier_text(text: str) -> tuple[str, str]:
    """``customer_id:CU10000042`` → (kind, value); the query-string form of a subject."""
    kind, sep, value = text.partition(":")
    if not sep or not value:
        raise InvalidInput(
            "name the subject as KIND:VALUE, e.g. customer_id:CU10000042 or email:jane@x.org",
            [FieldProblem(("query", "subject"), "expected KIND:VALUE")],
        )
    return kind.strip(), value.strip()


class SubjectKeys:
    """Checks identifiers and derives the keyed subject references the stores use."""

    def __init__(
        self,
        ring: KeyRing,
        kinds: Mapping[str, IdentifierKind]
        | Callable[[], Mapping[str, IdentifierKind]]
        | None = None,
    ) -> None:
        self._key = subject_index_key(ring)
        self._kinds = kinds if kinds is not None else DEFAULT_IDENTIFIERS

    @property
    def kinds(self) -> Mapping[str, IdentifierKind]:
        """The identifier kinds of the policy in service (``catalog.yaml: subjects``)."""
        return self._kinds() if callable(self._kinds) else self._kinds

    def identifier(self, kind: str, value: str, loc: tuple[str | int, ...] = ()) -> Identifier:
        """One identifier, checked and canonicalized; ``InvalidInput`` naming the field."""
        kinds = self.kinds
        spec = kinds.get(kind)
        where = loc or ("body", "subject", kind)
        if spec is None:
            raise InvalidInput(
                f"unknown identifier kind {kind!r}; known: {', '.join(sorted(kinds))}",
                [FieldProblem(where, "unknown identifier kind")],
            )
        text = value.strip()
        if re.fullmatch(identifier_shape(spec), text) is None:
            raise InvalidInput(
                f"{kind} does not have the shape of a {spec.pii_type}",
                [FieldProblem(where, f"not a well-formed {kind}")],
            )
        return Identifier(kind, canonical(text, spec.pii_type), spec.pii_type)

    def identifiers(self, subject: SubjectIdentifiers) -> list[Identifier]:
        return [self.identifier(k, v) for k, v in subject.items().items()]

    def ref(self, identifier: Identifier) -> str:
        """The keyed reference of one identifier (hex, 64): what stores and indexes hold."""
        return hmac.new(self._key, identifier.label.encode(), hashlib.sha256).hexdigest()

    def short_ref(self, identifier: Identifier) -> str:
        """The first 16 hex digits: what row filters carry (a 64-bit set membership)."""
        return self.ref(identifier)[:16]
