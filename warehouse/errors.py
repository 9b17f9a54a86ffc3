"""Errors of the warehouse: staging, publishing, locking, row edits."""

from __future__ import annotations

from lgsp.core.errors import LgspError


class WarehouseError(LgspError):
    """The warehouse could not stage or publish a run."""


class WarehouseBusy(WarehouseError):
    """Another process holds the single DuckDB writer slot; try again later."""

    transient = True


class EditError(WarehouseError):
    """A retraction, correction or undo of a published row was refused; `field` names what to fix
    (a column, `key`, `values`, `why`, `by` or `edit_id`) and nothing was changed."""
