"""CKAN's error shapes, raised by the API and mapped to HTTP in one place (portal/app.py)."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    status = 500
    kind = "Internal Server Error"

    def __init__(self, detail: dict[str, Any] | str) -> None:
        super().__init__(str(detail))
        self.detail = detail

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"__type": self.kind}
        if isinstance(self.detail, dict):
            error.update(self.detail)
        else:
            error["message"] = self.detail
        return error


class ValidationError(ApiError):
    status = 409
    kind = "Validation Error"


class NotFound(ApiError):
    status = 404
    kind = "Not Found Error"


class UnknownAction(ApiError):
    status = 400
    kind = "Bad request - Action name not known"


def int_param(params: dict[str, Any], name: str, default: int, maximum: int | None = None) -> int:
    """A non-negative integer parameter, capped at `maximum` as CKAN caps rows and limits."""
    try:
        value = int(params.get(name, default))
    except (TypeError, ValueError):
        raise ValidationError({name: ["Invalid integer"]}) from None
    if value < 0:
        raise ValidationError({name: ["Must be a positive integer"]})
    return min(value, maximum) if maximum is not None else value
