"""The simulator's error answer, apart from app.py so reporting.py can raise it: no import cycles here."""

from __future__ import annotations

JSON = "application/json"


class ApiError(Exception):
    """An error answer: HTTP status, a short machine-readable `error`, a human `detail`."""

    def __init__(self, status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail, self.headers = status, error, detail, headers or {}
