"""``decode_json``'s shortcut refuses exactly what the full walk refuses, with the same field."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from governance.errors import InvalidInput, MalformedInput
from governance.payloads import MAX_DEPTH, check_storable, decode_json

leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=5))
tree = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=12,
)


def nest(value: Any, depth: int, as_list: bool) -> Any:
    for _ in range(depth):
        value = [value] if as_list else {"k": value}
    return value


def outcome(call: Any) -> tuple[str, Any]:
    try:
        call()
    except InvalidInput as exc:
        return "refused", [(p.loc, p.msg) for p in exc.problems or []]
    except MalformedInput:
        return "malformed", None
    return "ok", None


@settings(max_examples=300, deadline=None)
@given(
    tree,
    st.sampled_from([0, 1, 5, MAX_DEPTH - 2, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1]),
    st.booleans(),
    st.sampled_from(["", "\x00", "a\x00b", "\\u0000"]),
)
def test_shortcut_matches_the_full_walk(value: Any, depth: int, as_list: bool, extra: str) -> None:
    document = nest([value, extra, {extra: 1}], depth, as_list)
    text = json.dumps(document)
    expected = outcome(lambda: check_storable(json.loads(text)))
    assert outcome(lambda: decode_json(text.encode())) == expected
    assert outcome(lambda: decode_json(text)) == expected
