"""Errors of the warehouse: staging, publishing, locking."""

from __future__ import annotations

from lgsp.core.errors import LgspError


class WarehouseError(LgspError):
    """The warehouse could not stage or publish a run."""


class WarehouseBusy(WarehouseError):
    """Another process holds the single DuckDB writer slot; try again later."""

    transient = True
