"""Generators of the departmental source tables, by department name."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType

import pyarrow as pa

from lgsp_sandbox.departments import education, environment, finance, ict, transport

Generator = Callable[..., Iterator[pa.Table]]
"""generate(seed, *, scale, dirty_share) -> blocks of rows (pyarrow tables) in load order."""

GENERATORS: Mapping[str, Generator] = MappingProxyType(
    {
        "finance": finance.generate,
        "education": education.generate,
        "transport": transport.generate,
        "environment": environment.generate,
        "ict": ict.generate,
    }
)
