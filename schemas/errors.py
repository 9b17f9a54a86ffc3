"""Errors about dataset contracts."""

from __future__ import annotations

from lgsp.core.errors import LgspError


class ContractError(LgspError):
    """A contract file is missing, unreadable or invalid; names the file and the field."""


class ContractNotFound(ContractError):
    """No contract has the requested dataset id."""
