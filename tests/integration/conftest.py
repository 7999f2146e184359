from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pipeline import Pipeline, pipeline
from tests.services import Services


@pytest.fixture
def pipe(services: Services, real_encoder) -> Iterator[Pipeline]:  # type: ignore[no-untyped-def]
    with pipeline(services, real_encoder) as p:
        yield p
