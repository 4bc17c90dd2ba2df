"""Numbers and dates every service accepts from outside, bounded so that storing them and reckoning with
them cannot fail: an integer fits PostgreSQL's BIGINT, a date lies where calendar arithmetic and time-zone
shifts stay inside the years Python and PostgreSQL can represent.

Use these types for what a caller sends (path, query, body); a value outside them is a 422 naming the
field, never an overflow deep in a handler or the database.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

import annotated_types
from pydantic import AfterValidator, AwareDatetime

MIN_BIGINT = -(2**63)
MAX_BIGINT = 2**63 - 1

EARLIEST_DATE = date(1900, 1, 1)
"""No citizen, document or deadline in the bus is older (Vietnamese personal IDs start with the 1900s)."""
LATEST_DATE = date(2999, 12, 31)
"""Far beyond any deadline or consent, and far from year 9999, where a time zone or a day added overflows."""

Int64 = Annotated[int, annotated_types.Interval(ge=MIN_BIGINT, le=MAX_BIGINT)]
"""Any integer PostgreSQL's BIGINT holds."""

RowId = Annotated[int, annotated_types.Interval(ge=1, le=MAX_BIGINT)]
"""A database-generated identifier (BIGINT identity)."""


def _date_in_range(value: date) -> date:
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValueError(f"must be between {EARLIEST_DATE.isoformat()} and {LATEST_DATE.isoformat()}")
    return value


def _datetime_in_range(value: datetime) -> datetime:
    # The instant in UTC must exist: 9999-12-31T23:59:59-23:59 is a valid string but no datetime.
    _date_in_range(value.date())
    _date_in_range(value.astimezone(UTC).date())
    return value


BoundedDate = Annotated[date, AfterValidator(_date_in_range)]
"""A calendar date between EARLIEST_DATE and LATEST_DATE."""

BoundedDatetime = Annotated[AwareDatetime, AfterValidator(_datetime_in_range)]
"""An instant with its UTC offset, whose local and UTC dates lie between EARLIEST_DATE and LATEST_DATE."""
