"""Request and response schemas of the command API, with the limits a real service enforces."""

import uuid
from typing import Annotated

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
    model_validator,
)

MAX_TITLE = 500
MAX_BODY = 100_000
MAX_TAGS = 32
MAX_ATTRIBUTES = 32

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TITLE)]
Body = Annotated[str, StringConstraints(min_length=1, max_length=MAX_BODY)]
Category = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
]
Tag = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$"),
]
AttributeKey = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
]
AttributeText = Annotated[str, StringConstraints(max_length=256, strict=True)]
AttributeValue = StrictBool | StrictInt | StrictFloat | AttributeText
Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS)]
Attributes = Annotated[dict[AttributeKey, AttributeValue], Field(max_length=MAX_ATTRIBUTES)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DocumentReplace(_Strict):
    title: Title
    body: Body
    category: Category | None = None
    tags: Tags = Field(default_factory=list)
    attributes: Attributes = Field(default_factory=dict)
    published_at: AwareDatetime | None = None


class DocumentCreate(DocumentReplace):
    id: uuid.UUID | None = None


class DocumentPatch(_Strict):
    """Fields present replace the stored ones; ``null`` clears category or published_at."""

    title: Title | None = None
    body: Body | None = None
    category: Category | None = None
    tags: Tags | None = None
    attributes: Attributes | None = None
    published_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> "DocumentPatch":
        if not self.model_fields_set:
            raise ValueError("a patch must change at least one field")
        for required in ("title", "body", "tags", "attributes"):
            if required in self.model_fields_set and getattr(self, required) is None:
                raise ValueError(f"{required} cannot be null")
        return self


class BulkImport(_Strict):
    documents: Annotated[list[DocumentCreate], Field(min_length=1)]


class DocumentWritten(BaseModel):
    id: uuid.UUID
    version: int
    token: str


class BulkWritten(BaseModel):
    items: list[DocumentWritten]
    token: str
