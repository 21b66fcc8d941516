"""PromptGuard with a stand-in finder (the analyzer is tested elsewhere): scrub and restore."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from adapters.llm import PromptGuard


def finder_for(spans: list[tuple[str, int, int]]):  # type: ignore[no-untyped-def]
    return lambda text: [{"entity_type": t, "start": s, "end": e} for t, s, e in spans]


@st.composite
def text_with_spans(draw: st.DrawFn) -> tuple[str, list[tuple[str, int, int]]]:
    text = draw(st.text(alphabet=st.sampled_from("ab <>_PERSON1 "), min_size=0, max_size=40))
    spans = []
    for _ in range(draw(st.integers(0, 4))):
        if not text:
            break
        start = draw(st.integers(0, len(text) - 1))
        end = draw(st.integers(start + 1, len(text)))
        spans.append((draw(st.sampled_from(["PERSON", "EMAIL_ADDRESS"])), start, end))
    return text, spans


@given(case=text_with_spans())
def test_restore_undoes_scrub_whatever_the_text_holds(
    case: tuple[str, list[tuple[str, int, int]]],
) -> None:
    text, spans = case
    guard = PromptGuard(finder_for(spans))
    scrubbed = guard.scrub(text)
    assert guard.restore(scrubbed.text, scrubbed) == text


def test_same_value_same_placeholder_and_kept_types() -> None:
    text = "Ann Lee wrote ann@x.io; Ann Lee again; Paris office"
    spans = [("PERSON", 0, 7), ("EMAIL_ADDRESS", 14, 22), ("PERSON", 24, 31), ("LOCATION", 39, 44)]
    scrubbed = PromptGuard(finder_for(spans), keep=["LOCATION"]).scrub(text)
    assert scrubbed.text == "<PERSON_1> wrote <EMAIL_ADDRESS_1>; <PERSON_1> again; Paris office"
    assert scrubbed.mapping == {"<PERSON_1>": "Ann Lee", "<EMAIL_ADDRESS_1>": "ann@x.io"}


def test_a_placeholder_already_in_the_text_is_not_reused() -> None:
    text = "literal <PERSON_1> and Bo Yi"
    scrubbed = PromptGuard(finder_for([("PERSON", 23, 28)])).scrub(text)
    assert scrubbed.text == "literal <PERSON_1> and <PERSON_2>"
    assert PromptGuard.restore(scrubbed.text, scrubbed) == text
