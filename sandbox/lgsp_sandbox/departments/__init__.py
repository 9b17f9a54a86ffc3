"""Generators of the departmental source tables, by table name."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType

import pyarrow as pa

from lgsp_sandbox.departments import education, environment, finance, ict, stations, transport

Generator = Callable[..., Iterator[pa.Table]]
"""generate(seed, *, scale, dirty_share) -> blocks of rows (pyarrow tables) in load order."""

GENERATORS: Mapping[str, Generator] = MappingProxyType(
    {
        "price_observations": finance.generate,
        "schools": education.generate,
        "driving_licences": transport.generate,
        "env_readings": environment.generate,
        "env_stations": stations.generate,
        "ict_indicators": ict.generate,
    }
)
