"""The value domains: what every store can hold and compare the same way, defined once.

The command API accepts exactly these values (anything else is a 422 naming the field, and
nothing is written), the query API's filters take the same ones, and every store is tested on
their edges (tests/contract/test_value_domains.py). Each bound is the narrowest store's:

- **Dates**: years ``FIRST_YEAR`` to ``LAST_YEAR`` as written (any offset), so that every
  instant lies within what each store can compare. Weaviate indexes a date as int64 nanoseconds
  since 1970, which wraps outside 1677-09-21..2262-04-11 (seen: a range filter on a year-1 date
  matched year 1600 and missed year 3000); Python's datetime has no instant outside years
  1-9999 at all. The rule is on the year as written so that the OpenAPI schema can state it
  exactly (a pattern). Filter bounds outside the domain are clamped to just outside it, which
  changes no answer for what the command API accepts (a date an older release stored outside
  the domain may be left out; Weaviate never compared those right anyway).
- **Numbers**: at most 2**53 - 1 in magnitude (RFC 7493's interoperable range), integers and
  fractions alike, never NaN or ±Infinity. Weaviate holds numbers as IEEE doubles, PostgreSQL's
  jsonb as exact decimals: past 2**53 the two disagree on equality (2**70 equals
  1.1805916207174113e21 in one and not the other), and a rounded double is not what was sent.
  Within the range every integer is exact and a fraction is the same double everywhere.
- **Text**: no NUL (PostgreSQL's text and jsonb cannot hold it); category and tags are stripped
  of surrounding Unicode whitespace and must hold a visible character (Weaviate's field
  tokenization trims whitespace, so an unstripped value would compare differently there).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError, core_schema

from common.text import DateTime, Text

FIRST_YEAR, LAST_YEAR = 1678, 2261
YEAR_PATTERN = r"^(16(7[89]|[89][0-9])|1[7-9][0-9]{2}|2[01][0-9]{2}|22[0-5][0-9]|226[01])-"
"""A date-time string whose year is FIRST_YEAR to LAST_YEAR (the rest is ``format: date-time``)."""
BELOW = datetime(1677, 12, 31, tzinfo=UTC)
ABOVE = datetime(2262, 1, 2, tzinfo=UTC)
"""Instants just outside every storable date (years as written, any offset up to a day), yet
inside what every store compares correctly: where filter bounds are clamped."""
MAX_INTEGER = 2**53 - 1

MAX_CATEGORY = 100
MAX_TAG = 64
MAX_ATTRIBUTE_TEXT = 256
ATTRIBUTE_KEY = r"^[A-Za-z_][A-Za-z0-9_]*$"
MAX_ATTRIBUTE_KEY = 64


def _in_domain(value: datetime) -> datetime:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise PydanticCustomError(
            "date_out_of_range", "the year must be from {first} to {last}: every store can hold "
            "and compare dates in that range", {"first": FIRST_YEAR, "last": LAST_YEAR})
    return value


def clamp(value: datetime) -> datetime:
    """A filter bound moved to just outside the domain when it lies further out (the same
    answer for every date the command API accepts)."""
    try:
        instant = value.astimezone(UTC)
    except (OverflowError, ValueError):  # no instant in years 1-9999: far outside either way
        return BELOW if value.year < 5000 else ABOVE
    return min(max(instant, BELOW), ABOVE)


StoredDate = Annotated[DateTime, AfterValidator(_in_domain), WithJsonSchema(
    {"type": "string", "format": "date-time", "pattern": YEAR_PATTERN})]
"""A date a document holds: RFC 3339 with a time zone, the year from FIRST_YEAR to LAST_YEAR."""
FilterDate = Annotated[DateTime, AfterValidator(clamp)]
"""A date bound in a filter: any RFC 3339 date-time with a time zone."""

def _no_text(value: Any) -> Any:
    if isinstance(value, str | bool):
        raise PydanticCustomError("int_type", "must be an integer (a JSON number, not text or a "
                                  "boolean)")
    return value


WholeNumber = Annotated[int, BeforeValidator(_no_text)]
"""A request's integer as JSON Schema means it: ``5`` or ``5.0``, never ``"5"`` or ``true``."""


def whole_number(minimum: int, maximum: int) -> Any:
    """``WholeNumber`` from ``minimum`` to ``maximum`` (bounds inside the validator, so that
    the JSON Schema says ``minimum``/``maximum`` also where the field is optional)."""
    return Annotated[int, Field(ge=minimum, le=maximum), BeforeValidator(_no_text)]
Integer = Annotated[StrictInt, Field(ge=-MAX_INTEGER, le=MAX_INTEGER)]
Number = Annotated[StrictFloat, Field(allow_inf_nan=False, ge=-MAX_INTEGER, le=MAX_INTEGER)]
"""A double in the same range (2.0 equals 2 on every store)."""

Category = Annotated[str, Text(MAX_CATEGORY, blank=False, strip=True)]
Tag = Annotated[str, Text(MAX_TAG, blank=False, strip=True, forbid=r"\x00-\x1f",
                          forbidden="control characters (U+0000 to U+001F)")]
AttributeKey = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ATTRIBUTE_KEY,
                                                pattern=ATTRIBUTE_KEY)]
AttributeText = Annotated[str, Text(MAX_ATTRIBUTE_TEXT, strict=True)]
ATTRIBUTE_KEYS: dict[str, Any] = {"minLength": 1, "maxLength": MAX_ATTRIBUTE_KEY,
                                  "pattern": ATTRIBUTE_KEY}
"""The key rule as JSON Schema ``propertyNames`` (``patternProperties`` alone allows others)."""
SCALAR_MESSAGE = (f"must be a boolean, a number of at most 2**53 - 1 in magnitude "
                  f"(9007199254740991), or a string of at most {MAX_ATTRIBUTE_TEXT} characters without NUL")


class OneOf:
    """``Annotated[A | B | ..., OneOf(A, B, ..., message=...)]``: the first type that takes the
    value, or one error with ``message`` (instead of one per type tried)."""

    def __init__(self, *types: Any, message: str) -> None:
        self.types, self.message = types, message

    def __get_pydantic_core_schema__(self, source: Any,
                                     handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.union_schema(
            [handler.generate_schema(t) for t in self.types],
            custom_error_type="value_domain", custom_error_message=self.message)


AttributeValue = Annotated[bool | int | float | str, OneOf(StrictBool, Integer, Number, AttributeText,
                                                          message=SCALAR_MESSAGE)]
"""An attribute's value, as a document holds it and as an equality filter names it."""

