"""Errors about validation setup (bad expectations), as opposed to data that fails them."""

from __future__ import annotations

from lgsp.core.errors import LgspError


class ExpectationError(LgspError):
    """An expectation in a contract is unknown, has bad arguments, or a severity it cannot have."""
