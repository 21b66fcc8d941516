"""The audit chain's canonical JSON: orjson where it writes the same bytes as the standard
library, which verifies every record (differential, against ``json.dumps``)."""

from __future__ import annotations

import enum
import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from governance.audit.chain import canonical_json


def reference(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


class Colour(enum.Enum):
    red = 1


class Level(enum.IntEnum):
    high = 3


class Kind(enum.StrEnum):
    read = "read"


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.sampled_from([Colour.red, Level.high, Kind.read, datetime(2026, 12, 1, tzinfo=UTC), b"x"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=8), inner, max_size=5),
        st.dictionaries(st.integers(0, 9), inner, max_size=3),
    ),
    max_leaves=30,
)


@settings(max_examples=500, deadline=None)
@given(values)
def test_same_text_as_the_standard_library(value: Any) -> None:
    try:
        expected = reference(value)
    except (TypeError, ValueError):  # not JSON for either (e.g. keys of mixed types)
        return
    assert canonical_json(value) == expected


def test_control_characters_and_non_ascii() -> None:
    text = "".join(chr(i) for i in range(0x80)) + "\u2028\u2029\x7fé😀"
    value = {"b": [text], "a": {text: 1}, "\n": None}
    assert canonical_json(value) == reference(value)


def test_lone_surrogate_falls_back() -> None:
    assert canonical_json({"s": "\ud800"}) == reference({"s": "\ud800"})
