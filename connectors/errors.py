"""Errors raised while pulling data from a source."""

from __future__ import annotations

from lgsp.core.errors import LgspError


class ConnectorError(LgspError):
    """A source could not be read. `transient` says whether a retry may succeed."""
