"""A hub with published datasets and a live `lgsp serve` on loopback, shared by a test module:
driving licences (restricted, personal data), schools (made `shared` here, its address made
personal data) and the ICT indicators (open, integer key)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from lgsp.sharing.log_database import log_entries
from tests.conftest import CONTRACTS, make_home, serve

DATASETS = ("driving_licences", "schools", "ict_indicators")


@dataclass
class Hub:
    settings: Settings
    url: str
    app: Any

    def logged(self) -> list[dict[str, Any]]:
        """The exchange log's entries, once the server has written all it was handed."""
        assert self.app.state.sharing.log.flush()
        return list(log_entries(self.settings))


def make_settings(home: Path, contracts: Path, **extra: object) -> Settings:
    return Settings(home=home, contracts_dir=contracts, **extra)  # type: ignore[arg-type]


def contracts_for_tests(directory: Path) -> Path:
    """The shipped contracts, with schools as a shared dataset whose address is personal data."""
    shutil.copytree(CONTRACTS, directory)
    path = directory / "schools.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["classification"] = "shared"
    for column in data["columns"]:
        if column["name"] == "address":
            column["personal_data"] = "basic"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory, sandbox_dir: Path, catalogue: Path) -> Settings:
    """A hub home whose datasets have been run once (module-wide: the runs take seconds)."""
    root = tmp_path_factory.mktemp("sharing")
    home = root / "home"
    make_home(home, sandbox_dir, catalogue)
    settings = make_settings(home, contracts_for_tests(root / "contracts"))
    pipeline = Pipeline(settings)
    for dataset_id in DATASETS:
        assert pipeline.run(dataset_id, release=False).status == "published", dataset_id
    return settings


@pytest.fixture(scope="module")
def live(published: Settings) -> Iterator[Hub]:
    for url, app in serve(published):
        yield Hub(published, url, app)


@pytest.fixture
def key() -> Ed25519PrivateKey:
    """A fresh signing key for an exchange log's checkpoints."""
    return Ed25519PrivateKey.generate()
