"""Request and response schemas of the command API, with the limits a real service enforces."""

import uuid
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
    model_validator,
)
from pydantic_core import core_schema

from semsearch.text import DateTime, Text

MAX_TITLE = 500
MAX_BODY = 100_000
MAX_TAGS = 32
MAX_ATTRIBUTES = 32
MAX_CATEGORY = 100
MAX_TAG = 64
MAX_ATTRIBUTE_TEXT = 256

ATTRIBUTE_KEY = r"^[A-Za-z_][A-Za-z0-9_]*$"
Title = Annotated[str, Text(MAX_TITLE, blank=False, strip=True)]
Body = Annotated[str, Text(MAX_BODY, min_length=1)]
Category = Annotated[str, Text(MAX_CATEGORY, blank=False, strip=True)]
Tag = Annotated[str, Text(MAX_TAG, blank=False, strip=True, forbid=r"\x00-\x1f",
                          forbidden="control characters (U+0000 to U+001F)")]
AttributeKey = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=ATTRIBUTE_KEY)]
AttributeText = Annotated[str, Text(MAX_ATTRIBUTE_TEXT, strict=True)]
AttributeNumber = Annotated[StrictFloat, Field(allow_inf_nan=False)]


class _OneOfScalars:
    """A boolean, integer, finite number or text, with one error message when it is none."""

    def __get_pydantic_core_schema__(self, source: Any,
                                     handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.union_schema(
            [handler.generate_schema(t) for t in (StrictBool, StrictInt, AttributeNumber,
                                                  AttributeText)],
            custom_error_type="attribute_value",
            custom_error_message=f"must be a boolean, a finite number or a string of at most "
                                 f"{MAX_ATTRIBUTE_TEXT} characters without NUL")


AttributeValue = Annotated[bool | int | float | str, _OneOfScalars()]
Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS)]
Attributes = Annotated[dict[AttributeKey, AttributeValue], Field(
    max_length=MAX_ATTRIBUTES,  # the key rule as propertyNames: patternProperties alone allows others
    json_schema_extra={"propertyNames": {"minLength": 1, "maxLength": 64, "pattern": ATTRIBUTE_KEY},
                       "additionalProperties": False})]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DocumentReplace(_Strict):
    title: Title
    body: Body
    category: Category | None = None
    tags: Tags = Field(default_factory=list)
    attributes: Attributes = Field(default_factory=dict)
    published_at: DateTime | None = None


class DocumentCreate(DocumentReplace):
    id: uuid.UUID | None = None


REQUIRED_FIELDS = ("title", "body", "tags", "attributes")


def _patch_schema(schema: dict[str, Any]) -> None:
    """In the schema as in ``_not_empty``: at least one field, and no null for a field that a
    document must have."""
    schema["minProperties"] = 1
    for name in REQUIRED_FIELDS:
        field = schema["properties"][name]
        field.pop("default")
        field.update(next(s for s in field.pop("anyOf") if s.get("type") != "null"))


class DocumentPatch(_Strict):
    """Fields present replace the stored ones; ``null`` clears category or published_at."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_patch_schema)
    title: Title | None = None
    body: Body | None = None
    category: Category | None = None
    tags: Tags | None = None
    attributes: Attributes | None = None
    published_at: DateTime | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> "DocumentPatch":
        if not self.model_fields_set:
            raise ValueError("a patch must change at least one field")
        for required in REQUIRED_FIELDS:
            if required in self.model_fields_set and getattr(self, required) is None:
                raise ValueError(f"{required} cannot be null")
        return self


class BulkImport(_Strict):
    documents: Annotated[list[DocumentCreate], Field(min_length=1)]


class DocumentWritten(BaseModel):
    id: uuid.UUID
    version: int
    token: str = Field(description="consistency token: pass it to a search to read this write")


class BulkItem(BaseModel):
    id: uuid.UUID
    version: int


class BulkWritten(BaseModel):
    items: list[BulkItem]
    token: str = Field(description="one consistency token for every document written")


class Readiness(BaseModel):
    status: str = Field(description="ready, or unavailable")
    database: str | None = Field(default=None, description="why not, when unavailable")
