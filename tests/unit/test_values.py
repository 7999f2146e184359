"""The value domains and the limits that follow from them, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from command_side.models import DocumentCreate
from common.values import ABOVE, BELOW, MAX_INTEGER, YEAR_PATTERN, clamp
from embeddings.passages import LONG_TOKEN_CHARS, passages, word_offsets
from query_side.stores.base import Filters


@pytest.mark.parametrize("value", ["1678-01-01T00:00:00+14:00", "2261-12-31T23:59:59.999999-14:00",
                                   "2000-02-29T12:00:00Z"])
def test_dates_in_the_domain_are_accepted(value: str) -> None:
    assert DocumentCreate(title="t", body="b", published_at=value).published_at is not None


@pytest.mark.parametrize("value", ["1677-12-31T23:59:59Z", "2262-01-01T00:00:00Z",
                                   "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_dates_outside_the_domain_are_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="the year must be from 1678 to 2261"):
        DocumentCreate(title="t", body="b", published_at=value)


def test_the_schema_pattern_says_exactly_which_years() -> None:
    import re

    allowed = {year for year in range(1, 10000) if re.match(YEAR_PATTERN, f"{year:04d}-")}
    assert allowed == set(range(1678, 2262))


def test_filter_bounds_are_clamped_just_outside_the_domain() -> None:
    far_past = datetime.fromisoformat("0001-01-01T00:00:00+14:00")  # no instant in Python
    far_future = datetime.fromisoformat("9999-12-31T23:59:59-14:00")
    assert clamp(far_past) == BELOW and clamp(far_future) == ABOVE
    assert clamp(datetime(1200, 1, 1, tzinfo=UTC)) == BELOW
    inside = datetime(2000, 1, 1, tzinfo=UTC)
    assert clamp(inside) == inside
    # every storable instant lies strictly between, and both inside Weaviate's int64 nanoseconds
    assert BELOW < datetime.fromisoformat("1678-01-01T00:00:00+23:59")
    assert ABOVE > datetime.fromisoformat("2261-12-31T23:59:59.999999-23:59")
    assert datetime(1677, 9, 22, tzinfo=UTC) < BELOW and ABOVE < datetime(2262, 4, 11, tzinfo=UTC)


@pytest.mark.parametrize("value", [MAX_INTEGER, -MAX_INTEGER, 0.1, 5e-324, -0.0, True, "x"])
def test_attribute_values_in_the_domain(value: object) -> None:
    assert DocumentCreate(title="t", body="b", attributes={"k": value}).attributes["k"] == value


@pytest.mark.parametrize("value", [MAX_INTEGER + 1, 2**70, 10**400, 1e300, float("inf"),
                                   float("nan"), "a\x00"])
def test_attribute_values_outside_the_domain(value: object) -> None:
    with pytest.raises(ValidationError, match="attributes.k"):
        DocumentCreate(title="t", body="b", attributes={"k": value})
    with pytest.raises(ValidationError, match="attributes.k"):
        Filters.model_validate({"attributes": {"k": value}})


def test_filter_text_is_normalized_as_stored() -> None:
    f = Filters.model_validate({"category": ["  News\u3000"], "tags_any": [" a "]})
    assert f.category == ["News"] and f.tags_any == ["a"]


@pytest.mark.parametrize("title", ["\u200b", "\ufeff\u200d ", "\u2060\u00ad"])
def test_a_title_of_invisible_characters_is_blank(title: str) -> None:
    with pytest.raises(ValidationError, match="visible character"):
        DocumentCreate(title=title, body="b")


@pytest.mark.parametrize("body", ["x" * 100_000, "\U0001f600" * 100_000, "a " + "y" * 5000 + " b"])
def test_no_passage_is_longer_than_its_budget_of_long_tokens(body: str) -> None:
    for offsets in (None, word_offsets):
        spans = passages("t", body, offsets=offsets)
        assert max(s.end - s.start for s in spans) <= 200 * LONG_TOKEN_CHARS
        assert spans[0].start <= 2 and spans[-1].end == len(body)
