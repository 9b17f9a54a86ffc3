"""Fixtures for the sandbox tests: a throwaway PostgreSQL server shared by the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lgsp_sandbox.postgres import PostgresServer


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A running PostgreSQL server; fails with a clear message if initdb/pg_ctl are not installed."""
    with PostgresServer(tmp_path_factory.mktemp("postgres")) as server:
        yield server
