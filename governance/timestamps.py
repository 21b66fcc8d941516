"""One text form for every timestamp the service writes, and one way to read times in.

``iso`` is the only formatter: UTC, microseconds, ``Z`` (``2026-12-01T09:30:00.000000Z``). The
audit chain hashes this exact text, so it must never change. ``to_utc`` is the only converter:
a value that cannot be expressed in UTC (``9999-12-31T23:59:59-14:00`` is past year 9999 there)
is refused with ``ValueError`` instead of overflowing wherever it is used next.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, overload

from pydantic import AfterValidator, BeforeValidator, PlainSerializer


def to_utc(value: datetime) -> datetime:
    """The same instant in UTC; a naive value is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is outside the years 1 to 9999 in UTC") from None


@overload
def iso(ts: datetime) -> str: ...
@overload
def iso(ts: None) -> None: ...
def iso(ts: datetime | None) -> str | None:
    """UTC with microseconds and a ``Z``; ``None`` stays ``None``."""
    if ts is None:
        return None
    return to_utc(ts).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_instant(text: str) -> datetime:
    """An ISO 8601 time with an offset (or ``Z``), in UTC; ``ValueError`` otherwise."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    if value.tzinfo is None:
        raise ValueError("a time needs an offset or Z")
    return to_utc(value)


def _instant_in(value: object) -> datetime:
    """Only ISO 8601 text with an offset (or a datetime) is a time: pydantic's lax mode would
    also take ``0.5`` or ``true`` as seconds since 1970, which no caller means."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return parse_instant(value)
        except ValueError as e:
            raise ValueError(
                f"{e}: give an ISO 8601 time with an offset, e.g. 2026-12-01T09:30:00Z"
                if "offset" in str(e)
                else "not an ISO 8601 time; e.g. 2026-12-01T09:30:00Z"
            ) from None
    raise ValueError("a time is ISO 8601 text, e.g. 2026-12-01T09:30:00Z")


UtcDatetime = Annotated[
    datetime,
    BeforeValidator(_instant_in),
    AfterValidator(to_utc),
    PlainSerializer(iso, return_type=str, when_used="json"),
]
"""A datetime field or query parameter: read as ISO 8601 with an offset, held in UTC, written
by ``iso`` (so a value the database handed back without its zone still goes out with ``Z``)."""
