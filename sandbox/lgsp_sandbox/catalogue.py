"""The national administrative-unit catalogue the sandbox draws its real communes from."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def dataset_path() -> Path:
    """Where vietnamadminunits keeps its SQLite catalogue (read-only, inside the installed package).

    Found through the import system without importing the package, whose __init__ pulls in pandas (~0.6 s).
    """
    spec = importlib.util.find_spec("vietnamadminunits")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("vietnamadminunits is not installed; it carries the administrative-unit catalogue")
    for location in spec.submodule_search_locations:
        path = Path(location) / "data" / "dataset.db"
        if path.is_file():
            return path
    raise FileNotFoundError(f"data/dataset.db not found in {list(spec.submodule_search_locations)}")
