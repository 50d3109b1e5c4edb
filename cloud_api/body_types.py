"""Field types shared by the request bodies people send (hazards, visitor passes)."""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

from edge.model import Name

EARLIEST, LATEST = 946684800, 4102444800  # 2000-01-01 .. 2100-01-01


def _epoch(value: object) -> object:
    """Epoch seconds from a number or an ISO 8601 date-time (no offset: UTC)."""
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            pass
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"expected epoch seconds or an ISO 8601 date-time, got {value!r}"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool) and not math.isfinite(value):
        raise ValueError("must be a finite time")
    return value


Instant = Annotated[float, BeforeValidator(_epoch), Field(ge=EARLIEST, lt=LATEST)]
# A local date (a period's first or last day) in the same range: before 2000 no energy
# factor is valid, and far out of it the time zone maths overflows.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 1, 1)
LocalDay = Annotated[date, Field(ge=FIRST_DAY, le=LAST_DAY)]
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _text(value: str) -> str:
    """Free text (a description, a note): not blank, no control characters but line breaks
    and tabs; kept as written, less surrounding blanks."""
    found = _CONTROL.search(value)
    if found:
        raise ValueError(f"control character {found.group()!r} at position {found.start()}")
    if not value.strip():
        raise ValueError("must not be blank")
    return value.strip()


Text = Annotated[str, Field(min_length=1, max_length=4000), AfterValidator(_text)]
__all__ = ["FIRST_DAY", "LAST_DAY", "Instant", "LocalDay", "Name", "Text"]
