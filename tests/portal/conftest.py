"""A live `lgsp serve` on loopback, over a hub whose open datasets have been run and released."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from tests.conftest import serve


@pytest.fixture
def served(hub: Settings) -> Iterator[tuple[str, Settings]]:
    pipeline = Pipeline(hub)
    for dataset_id in ("schools", "price_observations", "ict_indicators", "driving_licences"):
        assert pipeline.run(dataset_id).status == "published"
    for url, _app in serve(hub):
        yield url, hub
