"""Apply a decision's obligations to data: rows (mappings) or a pandas DataFrame.

One function, ``apply_obligations``, for every enforcement point:

1. a deny raises ``AccessDenied`` (nothing is returned, not even column names);
2. the row filter keeps only the rows it allows, judged on the stored values (before any
   masking); a filter naming a column the data does not have raises, it never passes rows;
3. only the columns the decision has an obligation for survive, in the data's order; every other
   column is dropped, and so is every column whose action is ``drop``;
4. each surviving column goes through its operator (keep, mask, hash, pseudonymize, encrypt,
   redact). Pseudonyms use the pseudonym domain of ``purpose``, the purpose of the request the
   decision answered.

Columns the catalog does not classify arrive with PII type ``UNKNOWN`` and the policy's default
action (the shipped default is ``mask``), so an unforeseen column is never passed in clear.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from governance.errors import AccessDenied, InvalidInput
from governance.pdp.decision import (
    COMPARISONS,
    SUBJECT_OPS,
    ColumnObligation,
    Decision,
    ObligationAction,
    RowCondition,
    RowFilterOp,
)
from governance.pii.operators import Protector

if TYPE_CHECKING:
    import pandas as pd

Row = Mapping[str, Any]
T = TypeVar("T")


def as_decision(decision: Decision | Mapping[str, Any]) -> Decision:
    """A ``Decision`` from the model or from the decision API's JSON answer."""
    if isinstance(decision, Decision):
        return decision
    fields = set(Decision.model_fields)
    return Decision.model_validate({k: v for k, v in decision.items() if k in fields})


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _test(condition: RowCondition, protector: Protector) -> Callable[[Any], bool]:
    op, want = condition.op, condition.value
    if op in SUBJECT_OPS:
        return _subject_test(condition, protector)
    if op is RowFilterOp.is_null:
        return _missing
    if op is RowFilterOp.not_null:
        return lambda v: not _missing(v)
    if op is RowFilterOp.in_:
        allowed = list(want or [])
        return lambda v: not _missing(v) and v in allowed
    if op is RowFilterOp.not_in:
        banned = list(want or [])
        return lambda v: not _missing(v) and v not in banned
    fn = COMPARISONS[op]

    def check(v: Any) -> bool:
        if _missing(v):
            return False  # SQL semantics: a comparison with NULL is not true
        try:
            return bool(fn(v, want))
        except TypeError:
            return False

    return check


def _subject_test(condition: RowCondition, protector: Protector) -> Callable[[Any], bool]:
    """Consent filters name subjects by keyed reference: key each row's identifier the same
    way and look it up. A row whose identifier is missing is kept by neither op (unknown
    consent is no consent; an unknown subject cannot be shown to have opted out either, and a
    filter that cannot be judged must not pass rows)."""
    spec = condition.value if isinstance(condition.value, dict) else {}
    kind, pii_type = str(spec.get("kind", "")), spec.get("pii_type")
    refs = frozenset(str(r) for r in spec.get("refs") or ())
    inside = condition.op is RowFilterOp.subject_in

    def check(v: Any) -> bool:
        if _missing(v):
            return False
        ref = protector.subject_ref(kind, v, pii_type)
        return ref is not None and ((ref[:16] in refs) is inside)

    return check


def _check_filter_columns(conditions: Sequence[RowCondition], columns: Iterable[str]) -> None:
    have = set(columns)
    for c in conditions:
        if c.column not in have:
            raise InvalidInput(
                f"the decision's row filter needs column {c.column!r}, which the data does not "
                "have; nothing is returned"
            )


Plan = list[tuple[str, ObligationAction, Callable[[Any], Any]]]


def _plan(
    decision: Decision,
    columns: Sequence[str],
    protector: Protector,
    purpose: str | None,
    *,
    memo: bool = True,
    dataset: str | None = None,
) -> Plan:
    by_column: dict[str, ColumnObligation] = {o.column: o for o in decision.obligations}
    plan: Plan = []
    for column in columns:
        obligation = by_column.get(column)
        if obligation is None or obligation.action is ObligationAction.drop:
            continue
        if obligation.action is ObligationAction.encrypt and dataset is None:
            raise InvalidInput(
                f"column {column!r} is to be encrypted, and its tokens are bound to their "
                "dataset: pass dataset= (nothing is returned)"
            )
        fn = protector.operator(
            obligation.action,
            obligation.pii_type,
            purpose,
            memo=memo,
            dataset=dataset,
            column=column,
        )
        plan.append((column, obligation.action, fn))
    return plan


def _allowed(decision: Decision) -> None:
    if not decision.allowed:
        raise AccessDenied(f"the decision denies access: {decision.reason}")


def apply_to_rows(
    rows: Iterable[Row],
    decision: Decision | Mapping[str, Any],
    protector: Protector,
    *,
    purpose: str | None,
    dataset: str | None = None,
) -> list[dict[str, Any]]:
    decision = as_decision(decision)
    _allowed(decision)
    conditions = list(decision.row_filter or [])
    tests = [(c.column, _test(c, protector)) for c in conditions]
    out: list[dict[str, Any]] = []
    plan: Plan | None = None
    for row in rows:
        if plan is None:
            _check_filter_columns(conditions, row.keys())
            plan = _plan(decision, list(row.keys()), protector, purpose, dataset=dataset)
        if not all(test(row.get(column)) for column, test in tests):
            continue
        out.append({column: fn(row.get(column)) for column, _, fn in plan})
    return out


def apply_to_frame(
    frame: pd.DataFrame,
    decision: Decision | Mapping[str, Any],
    protector: Protector,
    *,
    purpose: str | None,
    dataset: str | None = None,
) -> pd.DataFrame:
    decision = as_decision(decision)
    _allowed(decision)
    conditions = list(decision.row_filter or [])
    _check_filter_columns(conditions, frame.columns)
    if conditions:
        keep = None
        for c in conditions:
            mask = frame[c.column].map(_test(c, protector)).astype(bool)
            keep = mask if keep is None else keep & mask
        frame = frame[keep]
    plan = _plan(
        decision, [str(c) for c in frame.columns], protector, purpose, memo=False, dataset=dataset
    )
    import pandas as pd

    data = {}
    for column, action, fn in plan:
        series = frame[column]
        data[column] = series if action is ObligationAction.keep else _map_distinct(series, fn)
    return pd.DataFrame(data, index=frame.index)


def _map_distinct(series: pd.Series, fn: Callable[[Any], Any]) -> pd.Series:
    """``fn`` once per distinct value (``factorize``), missing values left missing."""
    import numpy as np
    import pandas as pd

    try:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
    except TypeError:  # unhashable values (lists in a JSON column): one call per cell
        return series.map(fn, na_action="ignore")
    mapped = np.empty(len(uniques) + 1, dtype=object)
    mapped[:-1] = [fn(u) for u in uniques]
    mapped[-1] = series.dtype.type(np.nan) if series.dtype.kind == "f" else None
    return pd.Series(mapped[codes], index=series.index, name=series.name, dtype=object)


def apply_obligations(
    data: Any,
    decision: Decision | Mapping[str, Any],
    protector: Protector,
    *,
    purpose: str | None,
    dataset: str | None = None,
) -> Any:
    """``data`` as the decision lets its subject see it (see the module's docstring).
    ``dataset`` (``ns/name``) binds encryption tokens to where they came from."""
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        pd = None
    if pd is not None and isinstance(data, pd.DataFrame):
        return apply_to_frame(data, decision, protector, purpose=purpose, dataset=dataset)
    return apply_to_rows(data, decision, protector, purpose=purpose, dataset=dataset)
