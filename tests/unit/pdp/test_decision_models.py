"""The request models' identifier rules are published in the OpenAPI document; Python's regular
expressions and JSON Schema's (ECMA-262) must give the same verdicts on them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from governance.pdp.decision import ResourceRef, SubjectRef

# characters where Python's \s and ECMA-262's \s disagree, and a trailing newline, which
# Python's $ accepts and ECMA-262's does not
DISPUTED = ["a\x1c/b", "a/b\x1f", "a\x85/b", "\ufeffa/b", "a/b\ufeff", "a/b\n"]


@pytest.mark.parametrize("dataset", DISPUTED)
def test_disputed_whitespace_is_refused_by_both_readings(dataset: str) -> None:
    with pytest.raises(ValidationError, match="namespace/name"):
        ResourceRef(dataset=dataset)


@pytest.mark.parametrize("dataset", ["crm/customers", "s3:bucket/raw/events.v2", "ns/é"])
def test_ordinary_names_pass(dataset: str) -> None:
    assert ResourceRef(dataset=dataset).dataset == dataset


def test_subject_with_trailing_newline_is_refused() -> None:
    with pytest.raises(ValidationError):
        SubjectRef(id="user:alice\n")
