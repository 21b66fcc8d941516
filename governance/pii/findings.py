"""What the analyzer reports, after Presidio: one entity per stretch of text, and no NER name
that is a word of the trade.

Presidio itself only removes duplicates of one entity type: an email also matched as a URL, or
an order number NER calls a PERSON, would otherwise be reported (and anonymized) twice. The
rules here choose one, and each is held to "never worse than plain Presidio" on both evaluation
sets (``bench/pii_quality.py``): no entity type loses a span plain Presidio finds, none gains a
false positive it does not have.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

NER_RECOGNIZERS = frozenset({"SpacyRecognizer", "StanzaRecognizer", "TransformersRecognizer"})
NAME_TYPES = frozenset({"PERSON", "ORGANIZATION", "LOCATION", "NRP"})

# Identifiers whose pattern is a bare run of digits with a mod-11 check, which 1 in 11 random
# numbers pass: without their own context word they yield to another pattern on the same digits.
# Of 2,000 valid US numbers (set 2's generator), 168 pass the NHS check; of 2,000 valid NHS
# numbers, 1,738 are valid phone numbers of Presidio's default regions. An NHS number in text
# comes with its label ("NHS number", "NHS No."), which is Presidio's context for it.
YIELD_WITHOUT_CONTEXT = frozenset({"UK_NHS"})

# Abbreviations that name a kind of personal data. spaCy's small model tags "SSN" and "IBAN" in
# prose as organisations; written in capitals, they are field names, never a name. (NHS and DEA
# are left out: they are organisations.)
FIELD_ACRONYMS = frozenset(
    {
        "SSN", "SSNs", "ITIN", "TIN", "EIN", "NINO", "IBAN", "IBANs", "BIC", "DOB", "PIN",
        "PINs", "CVV", "CVC", "OTP", "MRN", "VAT", "IP", "MAC", "URL", "UUID", "GUID", "PII",
        "SKU", "SKUs", "RMA", "ETA", "FAQ", "ID", "IDs",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Finding:
    """One entity found in a text, in Presidio's REST shape (``context``: the word near it that
    Presidio's context enhancer found for its recognizer, if any)."""

    entity_type: str
    start: int
    end: int
    score: float
    recognizer: str = ""
    context: str = ""

    def presidio(self) -> dict[str, Any]:
        return {
            "entity_type": self.entity_type,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 4),
        }


def _evidence(f: Finding, in_text: bool) -> int:
    """0 for a pattern match as good as its score; 1 for a phone number with no phone word
    before it but "number" (which stands before every kind of number); 2 for an identifier of
    ``YIELD_WITHOUT_CONTEXT`` with no context word. Only in running text, where Presidio looked
    for context words."""
    if not in_text:
        return 0
    if f.entity_type in YIELD_WITHOUT_CONTEXT and not f.context:
        return 2
    if f.entity_type == "PHONE_NUMBER" and f.context in ("", "number"):
        return 1
    return 0


def _rank(
    f: Finding, preferred: frozenset[str], in_text: bool
) -> tuple[bool, int, bool, float, int, int]:
    return (
        f.recognizer in NER_RECOGNIZERS,
        _evidence(f, in_text),
        f.recognizer not in preferred,
        -f.score,
        -(f.end - f.start),
        f.start,
    )


# words a cut-down NER span does not start or end with ("34 56 78 or 0612345678" less two
# phone numbers is no date "or")
_EDGE_WORDS = frozenset({"a", "an", "and", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to", "with"})  # fmt: skip
_EDGE = re.compile(r"[\w'\u2019-]+|[^\w\s]")


def _outside(f: Finding, kept: list[Finding], text: str) -> Finding | None:
    """The longest part of NER finding ``f`` outside the kept pattern findings, trimmed of
    punctuation, spaces and small words at its ends, or None if nothing of it is left."""
    cuts = sorted((k.start, k.end) for k in kept if k.start < f.end and f.start < k.end)
    pieces, at = [], f.start
    for s, e in cuts:
        pieces.append((at, max(at, s)))
        at = max(at, e)
    pieces.append((at, f.end))
    best: tuple[int, int] | None = None
    for s, e in pieces:
        tokens = [
            m
            for m in _EDGE.finditer(text, s, e)
            if m.group()[0].isalnum() and m.group().lower() not in _EDGE_WORDS
        ]
        if not tokens:
            continue
        s, e = tokens[0].start(), tokens[-1].end()
        if e - s >= 2 and (best is None or e - s > best[1] - best[0]):
            best = (s, e)
    if best is None:
        return None
    return Finding(f.entity_type, best[0], best[1], f.score, f.recognizer, f.context)


def resolve_overlaps(
    findings: Iterable[Finding], preferred: frozenset[str] = frozenset(), text: str | None = None
) -> list[Finding]:
    """One entity per stretch of text.

    * A pattern match inside a longer pattern match is dropped: ``+1 847-748-1520`` is a phone
      number although its last ten digits pass the NHS-number check, and ``CU25173746`` a
      customer id although its first nine characters pass the DEA-number check.
    * Where pattern matches overlap in running text (``text`` given, so Presidio looked for
      context words), an NHS number without its context word yields to the rest
      (``YIELD_WITHOUT_CONTEXT``), and a phone number without a phone word yields to an
      identifier whose own context word is near ("My driver's license number is 056411994"
      is a licence, though a valid Israeli number). A lone cell of a scan has no context to
      look at; its column name decides. Then the stewards' own recognizers win
      (``preferred``: they know their identifiers); then the higher score, then the longer
      span.
    * A pattern (a regex, most with a checksum) beats NER, whose scores are a constant 0.85
      whatever it tags (spaCy's small model calls an IP address a LOCATION). With ``text``, an
      NER span that runs over a pattern match keeps its longest part outside it instead of
      going: spaCy reads ``Joel;Daniels;+1 518-617-7651`` as one PERSON, and plain Presidio
      reports it whole, so dropping it would lose the name.
    """
    found = list(findings)
    patterns = [f for f in found if f.recognizer not in NER_RECOGNIZERS]
    inside = {
        id(f)
        for f in patterns
        for g in patterns
        if g.start <= f.start and f.end <= g.end and g.end - g.start > f.end - f.start
    }
    ranked = sorted(
        (f for f in found if id(f) not in inside),
        key=lambda f: _rank(f, preferred, text is not None),
    )
    kept: list[Finding] = []
    for f in ranked:
        clear = all(f.end <= k.start or f.start >= k.end for k in kept)
        if not clear and text is not None and f.recognizer in NER_RECOGNIZERS:
            cut = _outside(f, [k for k in kept if k.recognizer not in NER_RECOGNIZERS], text)
            if cut is not None and all(cut.end <= k.start or cut.start >= k.end for k in kept):
                f, clear = cut, True
        if clear:
            kept.append(f)
    return sorted(kept, key=lambda f: (f.start, f.end, f.entity_type))


# spaCy's small model often takes the role word before a name into the PERSON span
# ("Customer Jane Doe", "Cashier: Dawn Price" is fine, "Agent Ruby Moss" is not)
_ROLE_WORD = re.compile(
    r"(?:Customer|Client|Agent|Cashier|Recipient|Contact|Owner|Holder|Member|Supervisor|"
    r"Colleague|Neighbou?r|Caller|Reviewer|Dear|Hi|Hello|Thanks)\s+(?=\S)"
)
_TOKEN = re.compile(r"[\w'\u2019-]+")


class NotNames:
    """Words that are never a name: ``FIELD_ACRONYMS`` as written (in capitals), and the
    stewards' ``not_names`` in any case (``policies/pii/*.yaml``)."""

    def __init__(self, stewards: Iterable[str] = ()) -> None:
        self.words = frozenset(w.casefold() for w in stewards)

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and (word in FIELD_ACRONYMS or word.casefold() in self.words)

    def apply(self, findings: list[Finding], text: str) -> list[Finding]:
        """NER names cut to their words that may be names; PERSON patterns holding none.

        * An NER PERSON span loses a leading role word ("Customer Jane Doe" is Jane Doe; a
          redaction then leaves "Customer").
        * An NER PERSON, ORGANIZATION, LOCATION or NRP span loses such words at either end
          ("Callback Jane Doe"), and goes if nothing is left ("SSN", "IBAN", "Callback" at the
          start of a sentence).
        * A PERSON match of a pattern recognizer with such a word in it goes ("Valued
          Customer", "Support Team" after "Dear").
        """
        out = []
        for f in findings:
            if f.recognizer in NER_RECOGNIZERS and f.entity_type in NAME_TYPES:
                cut = self._trim(f, text)
                if cut is None:
                    continue
                f = cut
            elif f.entity_type == "PERSON" and any(
                w in self for w in _TOKEN.findall(text[f.start : f.end])
            ):
                continue
            out.append(f)
        return out

    def _trim(self, f: Finding, text: str) -> Finding | None:
        tokens = list(_TOKEN.finditer(text, f.start, f.end))
        lo, hi = 0, len(tokens)
        while lo < hi:
            role = f.entity_type == "PERSON" and _ROLE_WORD.match(text, tokens[lo].start(), f.end)
            if not (role or tokens[lo].group() in self):
                break
            lo += 1
        while hi > lo and tokens[hi - 1].group() in self:
            hi -= 1
        if lo == hi:
            return None
        if lo == 0 and hi == len(tokens):
            return f
        start = tokens[lo].start() if lo else f.start
        end = tokens[hi - 1].end() if hi < len(tokens) else f.end
        return Finding(f.entity_type, start, end, f.score, f.recognizer, f.context)
