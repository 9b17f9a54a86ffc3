"""Errors of submissions: the archive and the ledger."""

from __future__ import annotations

from lgsp.core.errors import LgspError


class SubmissionError(LgspError):
    """A submission could not be kept, found or read back."""
