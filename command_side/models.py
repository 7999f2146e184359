"""Request and response schemas of the command API, with the limits a real service enforces."""

import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from common.text import Text
from common.values import (
    ATTRIBUTE_KEYS,
    AttributeKey,
    AttributeValue,
    Category,
    StoredDate,
    Tag,
)

MAX_TITLE = 500
MAX_BODY = 100_000
MAX_TAGS = 32
MAX_ATTRIBUTES = 32

Title = Annotated[str, Text(MAX_TITLE, blank=False, strip=True)]
Body = Annotated[str, Text(MAX_BODY, min_length=1)]


Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS)]
Attributes = Annotated[dict[AttributeKey, AttributeValue], Field(
    max_length=MAX_ATTRIBUTES, json_schema_extra={"propertyNames": ATTRIBUTE_KEYS,
                                                  "additionalProperties": False})]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DocumentReplace(_Strict):
    title: Title
    body: Body
    category: Category | None = None
    tags: Tags = Field(default_factory=list)
    attributes: Attributes = Field(default_factory=dict)
    published_at: StoredDate | None = None


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
    published_at: StoredDate | None = None

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
