"""Text fields every store can hold, with the same rule in the code and in the OpenAPI schema.

PostgreSQL's ``text`` and ``jsonb`` cannot hold NUL (U+0000), so a field that reaches them
refuses it with a 422 naming the field (JSON's lone surrogates are already refused by the JSON
parser). A field that is stripped must hold more than whitespace. Each rule is published as the
field's ``pattern``, checked against the text as sent, before stripping, so that what the schema
calls valid is exactly what the API accepts.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

WHITESPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007" \
             "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
"""What stripping removes: Unicode's White_Space characters."""
_WS_CLASS = r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_INVISIBLE = r"\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e" \
             r"\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0"
"""Characters that show nothing (zero-width, joiners, direction marks, fillers, variation
selectors; the Basic Multilingual Plane's Default_Ignorable_Code_Points): a field that must hold
more than whitespace must hold more than these too."""


_DATE_START = re.compile(r"^[0-9]{4}-")


def _not_a_number(value: Any) -> Any:
    if isinstance(value, int | float) or (isinstance(value, str) and not _DATE_START.match(value)):
        raise PydanticCustomError("datetime_type", "must be an RFC 3339 date-time string with a "
                                  "time zone, such as 2020-01-31T12:00:00Z")
    return value


DateTime = Annotated[AwareDatetime, BeforeValidator(_not_a_number)]
"""A date-time with a time zone, sent as RFC 3339 text (pydantic would also take a number of
seconds, as a number or as text, which the schema's ``format: date-time`` does not allow)."""


class Text:
    """``Annotated[str, Text(...)]``: ``min_length`` to ``max_length`` characters, none in ``forbid`` (a
    regex class body, NUL by default); with ``blank=False`` at least one that is not whitespace;
    with ``strip``, leading and trailing whitespace removed once valid."""

    def __init__(self, max_length: int, *, min_length: int = 0, blank: bool = True,
                 strip: bool = False,
                 forbid: str = r"\x00", forbidden: str = "NUL (\\u0000)",
                 strict: bool = False) -> None:
        self.max_length, self.min_length, self.blank = max_length, min_length, blank
        self.strip, self.strict = strip, strict
        self.forbidden = forbidden
        self._bad = re.compile(f"[{forbid}]")
        self._word = re.compile(f"[^{_WS_CLASS}{_INVISIBLE}]")
        self.pattern = (f"^[^{forbid}]*$" if blank
                        else f"^[^{forbid}]*[^{forbid}{_WS_CLASS}{_INVISIBLE}][^{forbid}]*$")

    def check(self, value: str) -> str:
        if self._bad.search(value):
            raise PydanticCustomError(
                "forbidden_character", "must not contain {forbidden}: it cannot be stored",
                {"forbidden": self.forbidden})
        if not self.blank and not self._word.search(value):
            raise PydanticCustomError("blank", "must hold a visible character, not only whitespace "
                                      "or invisible ones")
        return value.strip(WHITESPACE) if self.strip else value

    def __get_pydantic_core_schema__(self, source: Any,
                                     handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        inner = core_schema.str_schema(min_length=self.min_length or None,
                                       max_length=self.max_length, strict=self.strict or None)
        return core_schema.no_info_after_validator_function(self.check, inner)

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        found = handler(schema)
        found["pattern"] = self.pattern
        if not self.blank:
            found["minLength"] = 1
        return found
