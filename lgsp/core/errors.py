"""One error root for the hub, with the fields an operator needs to find the problem."""

from __future__ import annotations


class LgspError(Exception):
    """Root of every error the hub raises on purpose.

    `transient` tells retry logic (tenacity in connectors, Airflow retries) whether
    trying again can succeed; terminal errors fail fast.
    """

    transient: bool = False

    def __init__(
        self,
        message: str,
        *,
        dataset: str | None = None,
        connector: str | None = None,
        file: str | None = None,
        row: int | None = None,
        field: str | None = None,
        transient: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.dataset = dataset
        self.connector = connector
        self.file = file
        self.row = row
        self.field = field
        if transient is not None:
            self.transient = transient

    def __str__(self) -> str:
        where = [
            f"{name}={value}"
            for name, value in (
                ("file", self.file),
                ("dataset", self.dataset),
                ("connector", self.connector),
                ("row", self.row),
                ("field", self.field),
            )
            if value is not None
        ]
        return f"{self.message} ({', '.join(where)})" if where else self.message


class ConfigError(LgspError):
    """Settings or connections are missing or wrong."""
