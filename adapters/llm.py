"""Keep personal data out of LLM prompts, and put it back into the answers.

``PromptGuard.scrub`` replaces every entity found in a prompt with a placeholder
(``<PERSON_1>``, ``<EMAIL_ADDRESS_1>``; the same value always gets the same placeholder, so the
model can still tell two customers apart). The model only ever sees placeholders.
``restore`` puts the originals back into the model's answer, for the caller, who was allowed to
see them. The mapping lives in the caller's memory only: it is never logged or sent.

The finder is any function from text to Presidio-shaped findings (``entity_type``, ``start``,
``end``): ``GovernanceClient.analyze`` (over HTTP) or a local ``PiiAnalyzer``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Finder = Callable[[str], Iterable[Any]]

_PLACEHOLDER = re.compile(r"<([A-Z][A-Z0-9_]*)_(\d+)>")


def _span(f: Any) -> tuple[str, int, int]:
    if isinstance(f, Mapping):
        return str(f["entity_type"]), int(f["start"]), int(f["end"])
    return str(f.entity_type), int(f.start), int(f.end)


@dataclass
class Scrubbed:
    text: str
    mapping: dict[str, str] = field(default_factory=dict, repr=False)  # placeholder -> original

    @property
    def entities(self) -> list[str]:
        return sorted(self.mapping)


class PromptGuard:
    def __init__(self, finder: Finder, *, keep: Sequence[str] = ()) -> None:
        self.finder = finder
        self.keep = frozenset(keep)  # entity types left in the prompt (e.g. LOCATION)

    def scrub(self, text: str) -> Scrubbed:
        spans = sorted(
            (s for s in map(_span, self.finder(text)) if s[0] not in self.keep),
            key=lambda s: (s[1], -s[2]),
        )
        by_value: dict[tuple[str, str], str] = {}
        counters: dict[str, int] = {}
        taken = {m.group(0) for m in _PLACEHOLDER.finditer(text)}  # never reuse one in the text
        out: list[str] = []
        pos = 0
        for entity, start, end in spans:
            if start < pos:  # overlaps one already replaced
                continue
            value = text[start:end]
            key = (entity, value)
            if key not in by_value:
                placeholder = ""
                while not placeholder or placeholder in taken:
                    counters[entity] = counters.get(entity, 0) + 1
                    placeholder = f"<{entity}_{counters[entity]}>"
                by_value[key] = placeholder
            out.append(text[pos:start])
            out.append(by_value[key])
            pos = end
        out.append(text[pos:])
        return Scrubbed("".join(out), {p: v for (_, v), p in by_value.items()})

    @staticmethod
    def restore(text: str, scrubbed: Scrubbed) -> str:
        """``text`` (a model's answer) with every known placeholder replaced by its original;
        placeholders the model made up are left as they are."""
        return _PLACEHOLDER.sub(lambda m: scrubbed.mapping.get(m.group(0), m.group(0)), text)
