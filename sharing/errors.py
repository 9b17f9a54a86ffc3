"""Errors of agency sharing, each with the HTTP status the sharing API answers it with."""

from __future__ import annotations

from lgsp.core.errors import LgspError


class SharingError(LgspError):
    """Root of sharing errors: `status` and `code` are what the API answers."""

    status = 400
    code = "bad_request"


class BadRequest(SharingError):
    """A malformed request: an unknown column, a bad cursor, a bad filter. Names the field."""


class UnknownDataset(SharingError):
    status = 404
    code = "unknown_dataset"


class Unauthenticated(SharingError):
    status = 401
    code = "unauthenticated"


class RegistryError(SharingError):
    """A registry operation that cannot be done (unknown consumer, a grant that breaks a rule)."""

    code = "invalid"
