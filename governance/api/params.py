"""Query parameters shared by the routers, each bounded so that no value can overflow below.

Integers stop at 2^63 - 1 (what SQL's BIGINT holds); times are converted to UTC on the way in
(``governance.timestamps.to_utc``), so an instant no database can hold is a 422 here.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from governance.timestamps import UtcDatetime

MAX_INT64 = 2**63 - 1

Offset = Annotated[int, Query(ge=0, le=MAX_INT64, description="Items to skip.")]
After = Annotated[int, Query(ge=0, le=MAX_INT64, description="Sequence number to continue after.")]
Limit = Annotated[int, Query(ge=1, le=1000, description="Most items in the answer.")]
Depth = Annotated[int, Query(ge=0, le=100, description="Edges to follow from the node.")]
Since = Annotated[UtcDatetime | None, Query(description="From this time (inclusive).")]
Until = Annotated[UtcDatetime | None, Query(description="Before this time (exclusive).")]
